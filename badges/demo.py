"""Demo data: the demo teacher earns one badge through the real workflow and jobs.

Evidence is added, submitted and pre-checked, the two demo reviewers score it,
the decision job decides and the issuance job signs the credential and PDF —
the same code paths as in production, run by an in-process RQ worker.
"""

from __future__ import annotations

import io
import signal
import struct
import zlib

from flask import current_app
from rq import SimpleWorker
from sqlalchemy import select

from accounts.services import find_user_by_email
from badges.models import Badge
from badges.services import badge_url
from core.extensions import db
from core.jobs import QUEUES, get_queue, redis_connection, relay_outbox
from core.storage import StagedFile, stage_stream
from evidence import services as evidence
from evidence.models import Submission
from reviews import services as reviews
from reviews.models import ReviewAssignment

DEMO_CODE = "UDL-05"
REFLECTION = (
    "The task showed me how often I had tied the goal to one product. Once the standard was "
    "written apart from the means, students chose a poster, a recorded explanation or a "
    "model, and all three were judged with the same success criteria. Students with writing "
    "accommodations used the recorded option and, for the first time, showed full mastery of "
    "the explanation standard. The samples suggest the sentence frames helped English learners "
    "most in the first week and could fade by the third. Student feedback asked for clearer "
    "exemplars of each mode, so next unit I will show one strong example per mode and ask "
    "students to self-assess against the criteria before they submit. "
) * 3


def sample_pdf(text: str) -> bytes:
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(body)}>>stream\n".encode()
        + body
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _png(shade: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    pixels = b"".join(b"\x00" + bytes([shade, 120, 200]) * 8 for _ in range(8))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def _run_jobs() -> None:
    # An RQ worker installs its own SIGINT/SIGTERM handlers; this one runs inside
    # `microcred serve`, whose handlers must come back afterwards.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(6):
            db.session.commit()
            relay_outbox()
            worker = SimpleWorker(
                [get_queue(name) for name in QUEUES], connection=redis_connection()
            )
            worker.work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _stage(data: bytes) -> StagedFile:
    return stage_stream(io.BytesIO(data), limit=current_app.config["FILE_MAX_BYTES"])


def earn_demo_badge() -> list[str]:
    if current_app.config["MICROCRED_ENV"] == "production":
        return []
    teacher = find_user_by_email("teacher@example.org")
    if teacher is None:
        return []
    badge = db.session.scalar(select(Badge).where(Badge.teacher_id == teacher.id))
    if badge is None:
        badge = _earn(teacher)
    if badge is None:
        return ["Demo badge: not issued (see the worker log)."]
    return [f"Demo badge (held by teacher@example.org): {badge_url(badge.id)}"]


def _earn(teacher) -> Badge | None:
    submission = db.session.scalar(
        select(Submission).where(
            Submission.teacher_id == teacher.id, Submission.credential_code == DEMO_CODE
        )
    )
    if submission is None:
        submission = evidence.start_submission(teacher, DEMO_CODE)
        db.session.flush()

        def lock() -> int:
            return submission.lock_version

        evidence.add_text(
            teacher,
            submission,
            {
                "part_key": "P1",
                "lock_version": lock(),
                "text": "A grade 5 science class of 27 students: six with IEPs (two for written "
                "expression), four English learners, a wide range of reading levels.",
            },
        )
        evidence.add_text(
            teacher,
            submission,
            {
                "part_key": "P2",
                "lock_version": lock(),
                "text": "Goal: explain how the parts of a plant help it survive (5-LS1-1). "
                "Expected barriers: handwriting fatigue, academic vocabulary, limited "
                "spoken English.",
            },
        )
        evidence.add_file(
            teacher, submission, "A1", _stage(sample_pdf("Task plan")), "task-plan.pdf"
        )
        for n in range(3):
            evidence.add_file(
                teacher,
                submission,
                "A2",
                _stage(_png(40 + 60 * n)),
                f"sample-{n + 1}.png",
                alt_text=f"Redacted student sample {n + 1}: a labelled plant diagram",
            )
        evidence.add_link(
            teacher,
            submission,
            {
                "part_key": "A3",
                "lock_version": lock(),
                "url": "https://example.org/scaffolds-and-fading-plan",
                "title": "Scaffolds",
            },
        )
        evidence.add_text(
            teacher, submission, {"part_key": "R1", "lock_version": lock(), "text": REFLECTION}
        )
        evidence.submit(teacher, submission, {"privacy_attested": True, "lock_version": lock()})
    _run_jobs()  # pre-check, then reviewer assignment
    version = submission.credential.rubric_version
    levels = {
        c.key: {
            "level": version.passing_level or c.levels[-1].name,
            "feedback": "Clear, specific evidence for this criterion.",
        }
        for c in version.criteria
    }
    for assignment in db.session.scalars(
        select(ReviewAssignment).where(
            ReviewAssignment.submission_id == submission.id, ReviewAssignment.status == "assigned"
        )
    ).all():
        reviews.submit_scores(assignment.reviewer, assignment, levels)
    _run_jobs()  # decision, then issuance of the credential and its PDF
    return db.session.scalar(select(Badge).where(Badge.teacher_id == teacher.id))
