"""``microcred doctor`` checks for badges: every passed attempt has its badge, no
duplicates, every stored credential verifies, status lists agree with revocations,
every certificate PDF is in storage."""

from __future__ import annotations

import json

from flask import Flask
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from badges import dataintegrity, issuers, statuslist
from badges.models import Badge, StatusList
from badges.status import list_url
from badges.verification import verify_credential
from core.doctor import stale_cutoff
from core.extensions import db
from core.jobs import enqueue, redis_connection
from core.registry import DoctorCheck, register_doctor_check, register_stored_file_column
from core.storage import get_storage
from evidence.doctor import blob_problem
from evidence.models import Submission, SubmissionStatus
from reviews.models import Decision

IN_FLIGHT = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
ISSUE_JOB = "badges.jobs.issue_badge_for_submission"


def _issuance_in_flight(submission_id: int) -> bool:
    job = Job.fetch_many([f"issue-{submission_id}"], connection=redis_connection())[0]
    return job is not None and job.get_status(refresh=False) in IN_FLIGHT


def _unissued() -> list[int]:
    """Passed long enough ago, no badge (or no PDF yet), no issuance job at work."""
    rows = db.session.execute(
        select(Submission.id, Badge.id, Badge.pdf_sha256)
        .join(Decision, Decision.submission_id == Submission.id)
        .outerjoin(
            Badge,
            (Badge.submission_id == Submission.id)
            & (Badge.competency_code == Submission.credential_code),
        )
        .where(
            Submission.status == SubmissionStatus.PASSED,
            Decision.outcome == "passed",
            Submission.decided_at < stale_cutoff(),
        )
    ).all()
    return [
        sid
        for sid, badge_id, pdf in rows
        if (badge_id is None or pdf is None) and not _issuance_in_flight(sid)
    ]


def _missing_badges() -> list[str]:
    return [
        f"attempt {sid} passed but its badge (or certificate PDF) was never issued"
        for sid in _unissued()
    ]


def _issue_missing() -> list[str]:
    missing = _unissued()
    for submission_id in missing:
        enqueue(ISSUE_JOB, submission_id, queue="issuance")
    return [f"enqueued the issuance of attempt {sid}'s badge" for sid in missing]


def _duplicates() -> list[str]:
    per_attempt = db.session.execute(
        select(Badge.submission_id, Badge.competency_code, func.count(Badge.id))
        .where(Badge.submission_id.is_not(None))
        .group_by(Badge.submission_id, Badge.competency_code)
        .having(func.count(Badge.id) > 1)
    ).all()
    stacks = db.session.execute(
        select(Badge.teacher_id, Badge.competency_code, func.count(Badge.id))
        .where(Badge.kind == "stack")
        .group_by(Badge.teacher_id, Badge.competency_code)
        .having(func.count(Badge.id) > 1)
    ).all()
    shared = db.session.execute(
        select(Badge.status_list_id, Badge.status_index, func.count(Badge.id))
        .group_by(Badge.status_list_id, Badge.status_index)
        .having(func.count(Badge.id) > 1)
    ).all()
    return (
        [f"attempt {sid} has {n} badges for {code}" for sid, code, n in per_attempt]
        + [f"educator {tid} has {n} {code} stack badges" for tid, code, n in stacks]
        + [f"{n} badges share index {index} of status list {lid}" for lid, index, n in shared]
    )


def _credential_problems(badge: Badge, status_list: StatusList) -> list[str]:
    try:
        document = json.loads(badge.credential_json)
    except ValueError:
        return ["its stored credential is not JSON"]
    problems = []
    entry = document.get("credentialStatus") or {}
    if entry.get("statusListCredential") != list_url(status_list) or str(
        entry.get("statusListIndex")
    ) != str(badge.status_index):
        problems.append("its credential's status entry is not the index the database allocated")
    report = verify_credential(document)
    for check in report.checks:
        if check.name == "revocation" and check.code == "REVOKED":
            if badge.revoked_at is None:
                problems.append("it is not revoked, but its published status list says revoked")
        elif check.name == "revocation" and check.passed:
            if badge.revoked_at is not None:
                problems.append("it is revoked, but its published status list says valid")
        elif check.name != "expiry" and not check.passed:
            problems.append(f"its credential fails the {check.name} check: {check.reason}")
    return problems


def _credentials() -> list[str]:
    problems = []
    for badge in db.session.scalars(select(Badge).order_by(Badge.issued_at)):
        problems += [
            f"badge {badge.id}: {p}" for p in _credential_problems(badge, badge.status_list)
        ]
    return problems


def _status_lists() -> list[str]:
    problems = []
    for status_list in db.session.scalars(select(StatusList).order_by(StatusList.id)):
        name = f"status list {status_list.slug}"
        try:
            bits = statuslist.Bitstring.decode(status_list.encoded_list)
        except statuslist.StatusListError as exc:
            problems.append(f"{name}: its stored list does not decode ({exc})")
            continue
        badges = db.session.scalars(
            select(Badge).where(Badge.status_list_id == status_list.id)
        ).all()
        revoked = set()
        for badge in badges:
            if not 0 <= badge.status_index < status_list.size:
                problems.append(f"{name}: badge {badge.id}'s index is outside the list")
                continue
            if badge.revoked_at is not None:
                revoked.add(badge.status_index)
            if bits.get(badge.status_index) != (badge.revoked_at is not None):
                problems.append(
                    f"{name}: the bit of badge {badge.id} (index {badge.status_index}) "
                    f"says {'revoked' if bits.get(badge.status_index) else 'valid'}, "
                    f"the badge is {'revoked' if badge.revoked_at else 'not revoked'}"
                )
        stray = set(bits.set_indexes()) - revoked - {b.status_index for b in badges}
        if stray:
            problems.append(f"{name}: bits set with no badge at those indexes: {sorted(stray)}")
        problems += [f"{name}: {p}" for p in _published_problems(status_list)]
    return problems


def _published_problems(status_list: StatusList) -> list[str]:
    if not status_list.credential_json:
        return ["it was never published"]
    published = json.loads(status_list.credential_json)
    problems = []
    if (published.get("credentialSubject") or {}).get("encodedList") != status_list.encoded_list:
        problems.append("the published list differs from the stored one (publish it again)")

    def resolve(method: str) -> object:
        key, _reason = issuers.resolve_key(method)
        return issuers.public_key(key) if key is not None else None

    if not dataintegrity.verify(published, resolve).verified:
        problems.append("the published list's signature does not verify")
    return problems


def _certificates() -> list[str]:
    storage = get_storage()
    problems = []
    for badge_id, sha in db.session.execute(
        select(Badge.id, Badge.pdf_sha256).where(Badge.pdf_sha256.is_not(None))
    ):
        problem = blob_problem(storage, sha)
        if problem:
            problems.append(f"badge {badge_id}'s certificate PDF {problem}")
    return problems


def register(app: Flask) -> None:
    """Doctor checks, and the files a backup must carry."""
    register_stored_file_column(app, "badges", "pdf_sha256")
    for check in (
        DoctorCheck(
            "badges-issued",
            "every passed attempt has its badge and PDF (or an issuance job at work)",
            _missing_badges,
            _issue_missing,
        ),
        DoctorCheck(
            "badges-unique",
            "one badge per attempt and competency; no two badges share a status index",
            _duplicates,
        ),
        DoctorCheck(
            "badge-credentials",
            "every stored credential verifies and carries its allocated status entry",
            _credentials,
        ),
        DoctorCheck(
            "status-lists",
            "each status list's bits match the revoked badges; the published list matches",
            _status_lists,
        ),
        DoctorCheck(
            "badge-certificates",
            "every certificate PDF is in storage with its SHA-256",
            _certificates,
        ),
    ):
        register_doctor_check(app, check)
