"""``microcred doctor`` checks for the review workflow: one decision per decided
attempt, never more than two primary reviewers, no score without its attempt."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from core.doctor import stale_cutoff
from core.extensions import db
from core.jobs import enqueue
from core.registry import DoctorCheck, register_doctor_check
from evidence.models import Submission, SubmissionStatus
from reviews.models import (
    ACTIVE_ASSIGNMENT,
    AssignmentRole,
    AssignmentStatus,
    Decision,
    ReviewAssignment,
)
from reviews.services import PRIMARY_REVIEWERS

DECIDED = (SubmissionStatus.PASSED, SubmissionStatus.NOT_YET)


def _decisions() -> list[str]:
    problems = []
    undecided = db.session.scalars(
        select(Submission.id)
        .outerjoin(Decision, Decision.submission_id == Submission.id)
        .where(Submission.status.in_(DECIDED), Decision.id.is_(None))
    ).all()
    problems += [f"attempt {sid} is marked decided but has no decision" for sid in undecided]
    duplicated = db.session.execute(
        select(Decision.submission_id, func.count(Decision.id))
        .group_by(Decision.submission_id)
        .having(func.count(Decision.id) > 1)
    ).all()
    problems += [f"attempt {sid} has {n} decisions (exactly one allowed)" for sid, n in duplicated]
    mismatched = db.session.execute(
        select(Decision.submission_id, Decision.outcome, Submission.status).join(
            Submission, Submission.id == Decision.submission_id
        )
    ).all()
    problems += [
        f"attempt {sid} has a {outcome!r} decision but its status is {status!r}"
        for sid, outcome, status in mismatched
        if status != outcome
    ]
    return problems


def _stuck_attempts() -> list[int]:
    """In review, both primary scores in long ago, and still no decision."""
    submitted = (
        select(
            ReviewAssignment.submission_id,
            func.count(ReviewAssignment.id).label("n"),
            func.max(ReviewAssignment.submitted_at).label("last"),
        )
        .where(
            ReviewAssignment.role == str(AssignmentRole.PRIMARY),
            ReviewAssignment.status == AssignmentStatus.SUBMITTED,
        )
        .group_by(ReviewAssignment.submission_id)
        .subquery()
    )
    open_adjudication = (
        select(ReviewAssignment.id)
        .where(
            ReviewAssignment.submission_id == Submission.id,
            ReviewAssignment.role == str(AssignmentRole.ADJUDICATOR),
            ReviewAssignment.status == AssignmentStatus.ASSIGNED,
        )
        .exists()
    )
    return list(
        db.session.scalars(
            select(Submission.id)
            .join(submitted, submitted.c.submission_id == Submission.id)
            .outerjoin(Decision, Decision.submission_id == Submission.id)
            .where(
                Submission.status == SubmissionStatus.IN_REVIEW,
                Decision.id.is_(None),
                submitted.c.n >= PRIMARY_REVIEWERS,
                submitted.c.last < stale_cutoff(),
                ~open_adjudication,
            )
        )
    )


def _pending_decisions() -> list[str]:
    return [
        f"attempt {sid} has both primary scores but no decision and no adjudicator at work"
        for sid in _stuck_attempts()
    ]


def _decide_again() -> list[str]:
    stuck = _stuck_attempts()
    for submission_id in stuck:
        enqueue("reviews.jobs.decide", submission_id)
    return [f"enqueued a decision for attempt {sid}" for sid in stuck]


def _assignments() -> list[str]:
    problems = []
    crowded = db.session.execute(
        select(ReviewAssignment.submission_id, func.count(ReviewAssignment.id))
        .where(
            ReviewAssignment.role == str(AssignmentRole.PRIMARY),
            ReviewAssignment.status.in_(ACTIVE_ASSIGNMENT),
        )
        .group_by(ReviewAssignment.submission_id)
        .having(func.count(ReviewAssignment.id) > PRIMARY_REVIEWERS)
    ).all()
    problems += [
        f"attempt {sid} has {n} active primary reviewers (at most {PRIMARY_REVIEWERS})"
        for sid, n in crowded
    ]
    orphans = db.session.scalars(
        select(ReviewAssignment.id)
        .outerjoin(Submission, Submission.id == ReviewAssignment.submission_id)
        .where(Submission.id.is_(None))
    ).all()
    problems += [f"review {aid} belongs to no existing attempt" for aid in orphans]
    empty = db.session.scalars(
        select(ReviewAssignment).where(ReviewAssignment.status == AssignmentStatus.SUBMITTED)
    ).all()
    problems += [f"review {a.id} is submitted without scores" for a in empty if not a.levels]
    return problems


def register(app: Flask) -> None:
    register_doctor_check(
        app,
        DoctorCheck(
            "decisions",
            "every decided attempt has exactly one decision, matching its status",
            _decisions,
        ),
    )
    register_doctor_check(
        app,
        DoctorCheck(
            "pending-decisions",
            "no attempt with both scores waits for its decision past the stale limit",
            _pending_decisions,
            _decide_again,
        ),
    )
    register_doctor_check(
        app,
        DoctorCheck(
            "assignments",
            "at most two primary reviewers per attempt; no review without its attempt or scores",
            _assignments,
        ),
    )
