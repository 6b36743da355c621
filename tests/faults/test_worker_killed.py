"""A worker SIGKILLed in the middle of assignment, decision or issuance, then a
fresh worker: nothing lost, nothing duplicated, nothing half-made.

Recovery is the periodic ``core.recovery.recover_abandoned_jobs_job`` (every
minute under ``microcred cron``; also ``microcred doctor --repair``): it finds
the job the dead worker left in RQ's started registry and puts it back on its
queue, and the job, being idempotent, runs again from the start. The tests
enqueue that periodic job as the scheduler would and start a fresh worker.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from badges.models import Badge
from badges.verification import verify_credential
from core.extensions import db
from core.jobs import get_queue, relay_outbox
from evidence.models import Submission
from reviews.models import AssignmentRole, Decision, ReviewAssignment
from tests.faults.helpers import WorkerProcess, count, doctor_problems
from tests.reviews.workflow import complete_submission, drain, reviewer, submit_all_reviews


def _reviewers(app: Flask) -> None:
    reviewer(app, "k1@example.org", "Brookside")
    reviewer(app, "k2@example.org", "Hillview")
    reviewer(app, "k3@example.org", "Lakeside")


def _recover_with_a_fresh_worker(app: Flask, tmp_path: Path) -> float:
    """What the cron scheduler does each minute, then a fresh worker; returns seconds."""
    started = time.monotonic()
    with app.app_context():
        get_queue("default").enqueue("core.recovery.recover_abandoned_jobs_job")
    WorkerProcess(app, tmp_path, burst=True).finish()
    drain(app)  # anything the recovered jobs asked for (mail, stacks) runs to the end
    return time.monotonic() - started


def _status(app: Flask, submission_id: int) -> str:
    with app.app_context():
        return db.session.get(Submission, submission_id).status


def _abandoned(problems: dict[str, list[str]]) -> list[str]:
    return problems.get("abandoned-jobs", [])


def test_worker_killed_between_first_and_second_reviewer(seeded: Flask, tmp_path: Path) -> None:
    _reviewers(seeded)
    _teacher, submission_id = complete_submission(seeded)
    with seeded.app_context():
        relay_outbox()  # the pre-check; it asks for the assignment when it passes
    worker = WorkerProcess(seeded, tmp_path, fault="reviews.assign.after_first")
    worker.wait_for_fault()
    worker.kill()

    of_submission = ReviewAssignment.submission_id == submission_id
    assert count(seeded, ReviewAssignment, of_submission) == 0  # the first was rolled back
    assert _status(seeded, submission_id) == "in_review"
    found = doctor_problems(seeded)
    assert any("reviews.jobs.assign_reviewers" in p for p in _abandoned(found)), found

    _recover_with_a_fresh_worker(seeded, tmp_path)
    with seeded.app_context():
        rows = db.session.scalars(select(ReviewAssignment).where(of_submission)).all()
        assert [r.role for r in rows] == [AssignmentRole.PRIMARY] * 2
        assert len({r.reviewer_id for r in rows}) == 2
    assert doctor_problems(seeded) == {}


def _scored(app: Flask) -> int:
    """Both reviewers have submitted; the decision job is waiting in the outbox."""
    _reviewers(app)
    _teacher, submission_id = complete_submission(app)
    drain(app)
    submit_all_reviews(app, submission_id)
    return submission_id


@pytest.mark.parametrize(
    ("fault", "decided_before_recovery"),
    [
        ("reviews.decide.before_commit", False),
        ("badges.issue.after_sign", True),
        ("badges.issue.after_store", True),
    ],
)
def test_worker_killed_mid_decision_or_issuance(
    seeded: Flask, tmp_path: Path, fault: str, decided_before_recovery: bool
) -> None:
    submission_id = _scored(seeded)
    with seeded.app_context():
        relay_outbox()
    worker = WorkerProcess(seeded, tmp_path, fault=fault)
    worker.wait_for_fault()
    worker.kill()

    of_submission = Decision.submission_id == submission_id
    assert count(seeded, Decision, of_submission) == int(decided_before_recovery)
    assert _status(seeded, submission_id) == ("passed" if decided_before_recovery else "in_review")
    assert count(seeded, Badge, Badge.submission_id == submission_id) == 0
    assert _abandoned(doctor_problems(seeded))

    _recover_with_a_fresh_worker(seeded, tmp_path)
    assert count(seeded, Decision, of_submission) == 1
    assert _status(seeded, submission_id) == "passed"
    with seeded.app_context():
        badges = db.session.scalars(select(Badge).where(Badge.submission_id == submission_id)).all()
        assert len(badges) == 1 and badges[0].pdf_sha256
        with seeded.test_request_context():
            assert verify_credential(json.loads(badges[0].credential_json)).valid
    assert doctor_problems(seeded) == {}
