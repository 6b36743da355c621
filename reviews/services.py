"""The review workflow: assignment, blind scoring, decisions, adjudication, appeals.

State lives on the submission (evidence domain) and here: assignments carry the
scores, a decision is unique per attempt. Jobs call these functions by id; each
is safe to run twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload, selectinload

from accounts.models import Organization, Role, User, UserRole
from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from core.faults import fault_point
from core.jobs import enqueue
from core.transactions import begin_write
from evidence.models import EDITABLE, Submission, SubmissionStatus
from reviews.calibration import unexpired
from reviews.models import (
    ACTIVE_ASSIGNMENT,
    Appeal,
    AssignmentRole,
    AssignmentStatus,
    CalibrationAnchor,
    CalibrationScore,
    Decision,
    DecisionMethod,
    ExtraAttempt,
    ReviewAssignment,
    ReviewerConflict,
    ReviewerProfile,
    ReviewerQualification,
)
from reviews.notifications import notify
from reviews.signals import decision_made
from rubrics import services as rubric_services
from rubrics.models import PassingRuleKind, RubricCriterion, RubricVersion

PRIMARY_REVIEWERS = 2
DEFAULT_CHECK_RATE = 20  # one check submission per this many primary reviews
QUEUE_PAGE_SIZE = 20
RECENT_DAYS = 30  # the operations dashboard's window for decisions and turnaround
IN_FLIGHT = (*EDITABLE, SubmissionStatus.SUBMITTED, SubmissionStatus.IN_REVIEW)


# --- Time ----------------------------------------------------------------------------


def add_business_days(start: datetime, days: int) -> datetime:
    current = start
    added = 0
    while added < days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def pseudonym(submission_id: int) -> str:
    """A stable name for reviewers that reveals nothing about the teacher."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"submission:{submission_id}".encode(), hashlib.sha256).digest()
    return "Candidate " + base64.b32encode(digest)[:6].decode()


# --- Who can review -----------------------------------------------------------------


def qualified_reviewer_ids(theme: str, code: str, now: datetime | None = None) -> set[int]:
    rows = db.session.scalars(
        select(ReviewerQualification.user_id).where(
            ReviewerQualification.scope.in_([theme, code]), unexpired(now)
        )
    )
    return set(rows)


def open_load() -> dict[int, int]:
    rows = db.session.execute(
        select(ReviewAssignment.reviewer_id, func.count(ReviewAssignment.id))
        .where(ReviewAssignment.status == AssignmentStatus.ASSIGNED)
        .group_by(ReviewAssignment.reviewer_id)
    )
    return {reviewer_id: count for reviewer_id, count in rows}


def eligible_reviewers(
    submission: Submission, *, lead_only: bool = False, now: datetime | None = None
) -> list[User]:
    """Qualified, available, under capacity, not the teacher, not the teacher's
    organization, not conflicted, not already on this submission: least loaded
    first, then by id (deterministic)."""
    teacher = submission.teacher
    qualified = qualified_reviewer_ids(submission.credential.theme, submission.credential_code, now)
    if not qualified:
        return []
    already = set(
        db.session.scalars(
            select(ReviewAssignment.reviewer_id).where(
                ReviewAssignment.submission_id == submission.id
            )
        )
    )
    conflicted = set(
        db.session.scalars(
            select(ReviewerConflict.reviewer_id).where(
                or_(
                    ReviewerConflict.person_id == teacher.id,
                    and_(
                        ReviewerConflict.organization_id.is_not(None),
                        ReviewerConflict.organization_id == teacher.organization_id,
                    ),
                )
            )
        )
    )
    candidates = db.session.execute(
        select(User, ReviewerProfile)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == str(Role.REVIEWER)))
        .outerjoin(ReviewerProfile, ReviewerProfile.user_id == User.id)
        .where(User.id.in_(qualified), User.status == "active")
    ).all()
    load = open_load()
    chosen = []
    for user, profile in candidates:
        capacity = profile.capacity if profile else 5
        if profile is not None and not profile.available:
            continue
        if lead_only and not (profile and profile.is_lead):
            continue
        if user.id == teacher.id or user.id in already or user.id in conflicted:
            continue
        if teacher.organization_id is not None and user.organization_id == teacher.organization_id:
            continue
        if load.get(user.id, 0) >= capacity:
            continue
        chosen.append(user)
    chosen.sort(key=lambda u: (load.get(u.id, 0), u.id))
    return chosen


def _assign(
    submission: Submission,
    reviewer: User,
    role: AssignmentRole,
    *,
    actor_id: int | None = None,
    now: datetime | None = None,
    rubric_version_id: int | None = None,
) -> ReviewAssignment:
    now = now or utcnow()
    assignment = ReviewAssignment(
        submission_id=submission.id,
        reviewer_id=reviewer.id,
        role=str(role),
        status=AssignmentStatus.ASSIGNED,
        assigned_at=now,
        due_at=add_business_days(now, current_app.config["REVIEW_DUE_BUSINESS_DAYS"]),
        rubric_version_id=rubric_version_id or submission.credential.rubric_version_id,
        levels={},
    )
    db.session.add(assignment)
    db.session.flush()
    audit.record(
        "review.assigned",
        "review_assignment",
        assignment.id,
        actor_id=actor_id,
        after={"submission": submission.id, "reviewer": reviewer.id, "role": str(role)},
    )
    notify(
        reviewer,
        "review_assigned",
        assignment=assignment,
        name=pseudonym(submission.id),
        credential=submission.credential,
    )
    return assignment


def _active(submission_id: int, role: AssignmentRole | None = None) -> list[ReviewAssignment]:
    query = select(ReviewAssignment).where(
        ReviewAssignment.submission_id == submission_id,
        ReviewAssignment.status.in_(ACTIVE_ASSIGNMENT),
    )
    if role is not None:
        query = query.where(ReviewAssignment.role == str(role))
    return list(db.session.scalars(query.order_by(ReviewAssignment.id)))


def _lock_submission(submission_id: int) -> Submission | None:
    """Row lock on PostgreSQL; SQLite serialises writers by itself."""
    return db.session.scalar(
        select(Submission).where(Submission.id == submission_id).with_for_update(of=Submission)
    )


def assign_reviewers(submission_id: int, *, now: datetime | None = None) -> list[ReviewAssignment]:
    """Make sure a complete submission has its two primary reviewers (idempotent)."""
    submission = _lock_submission(submission_id)
    if submission is None or submission.status != SubmissionStatus.IN_REVIEW:
        return []
    if db.session.scalar(select(Decision.id).where(Decision.submission_id == submission_id)):
        return []
    missing = PRIMARY_REVIEWERS - len(_active(submission_id, AssignmentRole.PRIMARY))
    made = []
    for reviewer in eligible_reviewers(submission, now=now)[: max(missing, 0)]:
        if made:
            fault_point("reviews.assign.after_first")
        made.append(_assign(submission, reviewer, AssignmentRole.PRIMARY, now=now))
        check = add_check_submission(reviewer, submission.credential.theme, now=now)
        if check is not None:
            made.append(check)
    return made


# --- Check submissions ------------------------------------------------------------------


def check_rate() -> int:
    """One check submission per this many primary reviews (0 turns checks off)."""
    return int(current_app.config.get("REVIEW_CHECK_RATE", DEFAULT_CHECK_RATE))


def add_check_submission(
    reviewer: User, theme: str, *, now: datetime | None = None
) -> ReviewAssignment | None:
    """Every ``check_rate()``-th primary review given to ``reviewer`` brings a calibration
    anchor of the same theme into their queue, looking like any other review: their
    scores are compared with the anchor's true levels and never decide anything.

    An anchor the reviewer has already seen (in calibration or as a check), or their
    own work, is never used; when none is left, no check is added."""
    rate = check_rate()
    if rate <= 0:
        return None
    given = db.session.scalar(
        select(func.count(ReviewAssignment.id)).where(
            ReviewAssignment.reviewer_id == reviewer.id,
            ReviewAssignment.role == str(AssignmentRole.PRIMARY),
        )
    )
    if not given or given % rate:
        return None
    anchor = db.session.scalar(
        select(CalibrationAnchor)
        .join(Submission, Submission.id == CalibrationAnchor.submission_id)
        .where(
            CalibrationAnchor.theme == theme,
            Submission.teacher_id != reviewer.id,
            ~exists().where(
                ReviewAssignment.submission_id == CalibrationAnchor.submission_id,
                ReviewAssignment.reviewer_id == reviewer.id,
            ),
            ~exists().where(
                CalibrationScore.anchor_id == CalibrationAnchor.id,
                CalibrationScore.reviewer_id == reviewer.id,
            ),
        )
        .order_by(CalibrationAnchor.id)
        .limit(1)
    )
    if anchor is None:
        return None
    return _assign(
        anchor.submission,
        reviewer,
        AssignmentRole.CHECK,
        now=now,
        rubric_version_id=anchor.rubric_version_id,
    )


def awaiting_reviewer() -> list[Submission]:
    """Complete submissions still short of reviewers (shown to admins, retried).

    Starts from the submissions in review (few at any time) and counts each one's
    primary reviewers through the submission index, so the cost does not grow with
    the history of finished reviews."""
    active_primaries = (
        select(func.count(ReviewAssignment.id))
        .where(
            ReviewAssignment.submission_id == Submission.id,
            ReviewAssignment.status.in_(ACTIVE_ASSIGNMENT),
            ReviewAssignment.role == str(AssignmentRole.PRIMARY),
        )
        .correlate(Submission)
        .scalar_subquery()
    )
    # No decision check here: a decision moves its submission out of IN_REVIEW in the
    # same transaction (and assign_reviewers checks again under a row lock), while an
    # anti-join with decisions would make PostgreSQL read every decision ever made.
    rows = db.session.scalars(
        select(Submission)
        .options(lazyload(Submission.items))
        .where(
            Submission.status == SubmissionStatus.IN_REVIEW,
            active_primaries < PRIMARY_REVIEWERS,
        )
        .order_by(Submission.submitted_at, Submission.id)
    )
    return list(rows)


def assign_by_hand(
    actor: User, submission_id: int, reviewer_id: int, role: str
) -> ReviewAssignment:
    submission = db.session.get(Submission, submission_id)
    reviewer = db.session.get(User, reviewer_id)
    if submission is None or reviewer is None:
        raise NotFoundError("No such submission or reviewer.")
    if not reviewer.has_role(Role.REVIEWER):
        raise InvalidError(f"{reviewer.name} is not a reviewer.")
    if reviewer.id == submission.teacher_id:
        raise InvalidError("Teachers cannot review their own work.")
    if reviewer.id in {a.reviewer_id for a in _active(submission_id)}:
        raise ConflictError(f"{reviewer.name} is already reviewing this submission.")
    existing = db.session.scalar(
        select(ReviewAssignment).where(
            ReviewAssignment.submission_id == submission_id,
            ReviewAssignment.reviewer_id == reviewer_id,
        )
    )
    if existing is not None:
        raise ConflictError(f"{reviewer.name} already reviewed this submission once.")
    return _assign(submission, reviewer, AssignmentRole(role), actor_id=actor.id)


def reassign(
    actor_id: int | None,
    assignment: ReviewAssignment,
    *,
    now: datetime | None = None,
    reason: str = "moved by an administrator",
) -> list[ReviewAssignment]:
    """Take an open review away from its reviewer and give it to someone else."""
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise ConflictError("Only open reviews can be reassigned.")
    assignment.status = AssignmentStatus.REASSIGNED
    audit.record(
        "review.reassigned",
        "review_assignment",
        assignment.id,
        actor_id=actor_id,
        after={"reason": reason},
    )
    db.session.flush()
    submission = assignment.submission
    if assignment.role == AssignmentRole.CHECK:
        return []  # a check is never handed on: the next one comes with later work
    if assignment.role == AssignmentRole.PRIMARY:
        return assign_reviewers(submission.id, now=now)
    replacement = eligible_reviewers(submission, lead_only=False, now=now)[:1]
    return [_assign(submission, r, AssignmentRole(assignment.role), now=now) for r in replacement]


# --- Scoring -------------------------------------------------------------------------------


def get_assignment(user: User, assignment_id: int) -> ReviewAssignment:
    """Only the assigned reviewer sees an assignment (404 for everyone else)."""
    assignment = db.session.get(ReviewAssignment, assignment_id)
    if (
        assignment is None
        or assignment.reviewer_id != user.id
        or assignment.status == AssignmentStatus.REASSIGNED
    ):
        raise NotFoundError("No such review.")
    return assignment


@dataclass(frozen=True)
class ReviewQueue:
    """Open reviews (all of them: capacity keeps them few) and one page of finished ones."""

    open: list[ReviewAssignment]
    finished: list[ReviewAssignment]
    page: int
    has_more: bool

    @property
    def assignments(self) -> list[ReviewAssignment]:
        return [*self.open, *self.finished]


def _with_submission() -> Any:
    # The credential comes with the submission (joined); the evidence is not needed here.
    return joinedload(ReviewAssignment.submission).lazyload(Submission.items)


def my_queue(
    user: User, sort: str = "due", page: int = 1, per_page: int = QUEUE_PAGE_SIZE
) -> ReviewQueue:
    """A reviewer's open reviews by due date (or date assigned), then their finished
    reviews newest first, ``per_page`` at a time; open reviews come on page 1 only."""
    order = ReviewAssignment.due_at if sort == "due" else ReviewAssignment.assigned_at
    open_reviews: list[ReviewAssignment] = []
    if page == 1:
        open_reviews = list(
            db.session.scalars(
                select(ReviewAssignment)
                .options(_with_submission())
                .where(
                    ReviewAssignment.reviewer_id == user.id,
                    ReviewAssignment.status == AssignmentStatus.ASSIGNED,
                )
                .order_by(order, ReviewAssignment.id)
            )
        )
    finished = list(
        db.session.scalars(
            select(ReviewAssignment)
            .options(_with_submission())
            .where(
                ReviewAssignment.reviewer_id == user.id,
                ReviewAssignment.status == AssignmentStatus.SUBMITTED,
            )
            .order_by(ReviewAssignment.submitted_at.desc(), ReviewAssignment.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return ReviewQueue(open_reviews, finished[:per_page], page, len(finished) > per_page)


def _passing_score(version: RubricVersion, criterion: RubricCriterion) -> float:
    if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST:
        return next(
            level.score for level in criterion.levels if level.name == version.passing_level
        )
    return float(version.passing_threshold or 0.0)


def _clean_levels(
    version: RubricVersion, entries: dict[str, Any], *, complete: bool
) -> dict[str, Any]:
    criteria = {criterion.key: criterion for criterion in version.criteria}
    unknown = sorted(set(entries) - set(criteria))
    if unknown:
        raise InvalidError("Unknown criteria: " + ", ".join(unknown) + ".", {"levels": unknown})
    cleaned: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for key, criterion in criteria.items():
        entry = entries.get(key) or {}
        level_name, feedback = entry.get("level"), (entry.get("feedback") or "").strip()
        if not level_name:
            if complete:
                problems[key] = ["Choose a level."]
            continue
        level = next((lv for lv in criterion.levels if lv.name == level_name), None)
        if level is None:
            problems[key] = [f"{level_name!r} is not a level of {key}."]
            continue
        if complete and level.score < _passing_score(version, criterion) and not feedback:
            problems[key] = ["Write feedback: the teacher needs to know what to improve."]
        cleaned[key] = {"level": level.name, "score": level.score, "feedback": feedback}
    if problems:
        raise InvalidError("Some criteria need attention.", problems)
    return cleaned


def save_scores(
    user: User, assignment: ReviewAssignment, entries: dict[str, Any]
) -> ReviewAssignment:
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise ConflictError("This review is submitted and locked.")
    version = db.session.get(RubricVersion, assignment.rubric_version_id)
    assignment.levels = _clean_levels(version, entries, complete=False)
    db.session.flush()
    return assignment


def submit_scores(
    user: User, assignment: ReviewAssignment, entries: dict[str, Any]
) -> ReviewAssignment:
    if assignment.status != AssignmentStatus.ASSIGNED:
        raise ConflictError("This review is already submitted and locked.")
    version = db.session.get(RubricVersion, assignment.rubric_version_id)
    assignment.levels = _clean_levels(version, entries, complete=True)
    assignment.status = AssignmentStatus.SUBMITTED
    assignment.submitted_at = utcnow()
    db.session.flush()
    audit.record(
        "review.submitted",
        "review_assignment",
        assignment.id,
        actor_id=user.id,
        after={"levels": {k: v["level"] for k, v in assignment.levels.items()}},
    )
    if assignment.role != AssignmentRole.CHECK:  # a check only feeds the statistics
        # Decide after commit, in a job: the decision needs both scores and a lock.
        enqueue(
            "reviews.jobs.decide",
            assignment.submission_id,
            job_id=f"decide-{assignment.submission_id}-{assignment.id}",
        )
    enqueue("reviews.jobs.assign_waiting")  # capacity may have freed up
    return assignment


def visible_other_scores(assignment: ReviewAssignment) -> list[ReviewAssignment]:
    """Reviewers see each other's scores only once both are in."""
    if assignment.status != AssignmentStatus.SUBMITTED or assignment.role == AssignmentRole.CHECK:
        return []
    others = [
        a
        for a in _active(assignment.submission_id, AssignmentRole.PRIMARY)
        if a.id != assignment.id
    ]
    if assignment.role == AssignmentRole.PRIMARY and not all(
        a.status == AssignmentStatus.SUBMITTED for a in others
    ):
        return []
    return [a for a in others if a.status == AssignmentStatus.SUBMITTED]


# --- Deciding ------------------------------------------------------------------------------


def _outcome(version: RubricVersion, levels: dict[str, Any]) -> str:
    chosen = {key: value["level"] for key, value in levels.items()}
    return "passed" if rubric_services.passes(version, chosen) else "not_yet"


def _combined(
    version: RubricVersion, scores: list[ReviewAssignment], decider: ReviewAssignment | None
) -> dict[str, Any]:
    """Final level per criterion: the decider's, or the lower of the two; feedback from all."""
    final: dict[str, Any] = {}
    for criterion in version.criteria:
        key = criterion.key
        if decider is not None:
            chosen = decider.levels[key]
        else:
            chosen = min((s.levels[key] for s in scores), key=lambda entry: entry["score"])
        feedback = [
            s.levels[key]["feedback"]
            for s in [*scores, *([decider] if decider else [])]
            if s.levels.get(key, {}).get("feedback")
        ]
        final[key] = {"level": chosen["level"], "score": chosen["score"], "feedback": feedback}
    return final


def decide(submission_id: int, *, now: datetime | None = None) -> Decision | None:
    """Make the one decision for an attempt once its scores allow it (idempotent).

    Agreement on the outcome decides (lower level per criterion); disagreement
    brings in an adjudicator, whose scores decide. Two jobs at the same instant
    are serialised by the row lock, and the unique constraint catches the rest.
    """
    begin_write()  # the savepoint below must not commit on its own (SQLite)
    submission = _lock_submission(submission_id)
    if submission is None:
        return None
    existing = db.session.scalar(select(Decision).where(Decision.submission_id == submission_id))
    appeal_done = [
        a
        for a in _active(submission_id, AssignmentRole.APPEAL)
        if a.status == AssignmentStatus.SUBMITTED
    ]
    if existing is not None and appeal_done:
        return resolve_appeal(appeal_done[0])
    if existing is not None or submission.status != SubmissionStatus.IN_REVIEW:
        return existing
    primaries = [
        a
        for a in _active(submission_id, AssignmentRole.PRIMARY)
        if a.status == AssignmentStatus.SUBMITTED
    ]
    if len(primaries) < PRIMARY_REVIEWERS:
        return None
    version = db.session.get(RubricVersion, submission.credential.rubric_version_id)
    outcomes = {_outcome(version, a.levels) for a in primaries}
    if len(outcomes) == 1:
        return _record_decision(
            submission,
            version,
            outcomes.pop(),
            DecisionMethod.AGREEMENT,
            _combined(version, primaries, None),
            now=now,
        )
    adjudicators = _active(submission_id, AssignmentRole.ADJUDICATOR)
    done = [a for a in adjudicators if a.status == AssignmentStatus.SUBMITTED]
    if done:
        return _record_decision(
            submission,
            version,
            _outcome(version, done[0].levels),
            DecisionMethod.ADJUDICATION,
            _combined(version, primaries, done[0]),
            now=now,
        )
    if not adjudicators:
        candidates = eligible_reviewers(submission, lead_only=True, now=now) or eligible_reviewers(
            submission, now=now
        )
        if candidates:
            _assign(submission, candidates[0], AssignmentRole.ADJUDICATOR, now=now)
        else:
            audit.record("review.adjudicator_wanted", "submission", submission.id)
    return None


def _record_decision(
    submission: Submission,
    version: RubricVersion,
    outcome: str,
    method: DecisionMethod,
    final: dict[str, Any],
    *,
    now: datetime | None = None,
) -> Decision | None:
    decision = Decision(
        submission_id=submission.id,
        outcome=outcome,
        method=str(method),
        rubric_version_id=version.id,
        final_levels=final,
        decided_at=now or utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(decision)
    except IntegrityError:  # another worker decided first
        return db.session.scalar(select(Decision).where(Decision.submission_id == submission.id))
    _apply_outcome(submission, decision)
    return decision


def _apply_outcome(submission: Submission, decision: Decision) -> None:
    before = submission.status
    submission.status = (
        SubmissionStatus.PASSED if decision.outcome == "passed" else SubmissionStatus.NOT_YET
    )
    submission.decided_at = decision.decided_at
    audit.record(
        "submission.decided",
        "submission",
        submission.id,
        before={"status": before},
        after={
            "status": submission.status,
            "method": decision.method,
            "levels": {k: v["level"] for k, v in decision.final_levels.items()},
        },
    )
    notify(
        submission.teacher,
        "decision",
        submission=submission,
        decision=decision,
        feedback=feedback_for(submission),
    )
    db.session.flush()
    decision_made.send(
        current_app._get_current_object(), submission_id=submission.id, outcome=decision.outcome
    )


# --- Teachers: feedback, appeals, extra attempts ---------------------------------------------


def decision_for(submission_id: int) -> Decision | None:
    return db.session.scalar(select(Decision).where(Decision.submission_id == submission_id))


def feedback_for(submission: Submission) -> dict[str, Any] | None:
    """Consolidated per-criterion feedback, and which evidence parts each judged."""
    decision = decision_for(submission.id)
    if decision is None:
        return None
    version = db.session.get(RubricVersion, decision.rubric_version_id)
    criteria = []
    by_part: dict[str, list[dict[str, Any]]] = {}
    for criterion in version.criteria:
        final = decision.final_levels.get(criterion.key, {})
        entry = {
            "key": criterion.key,
            "title": criterion.title,
            "level": final.get("level"),
            "feedback": final.get("feedback", []),
            "parts": list(criterion.evidence_parts),
        }
        criteria.append(entry)
        for part in criterion.evidence_parts:
            by_part.setdefault(part, []).append(entry)
    appeal = db.session.scalar(select(Appeal).where(Appeal.submission_id == submission.id))
    return {
        "outcome": decision.outcome,
        "method": decision.method,
        "decided_at": decision.decided_at,
        "criteria": criteria,
        "by_part": by_part,
        "appeal": appeal,
    }


def appeal(user: User, submission: Submission, reason: str) -> Appeal:
    if submission.teacher_id != user.id:
        raise NotFoundError("No such submission.")
    decision = decision_for(submission.id)
    if decision is None:
        raise ConflictError("There is no decision to appeal yet.")
    if db.session.scalar(select(Appeal.id).where(Appeal.submission_id == submission.id)):
        raise ConflictError("A decision can be appealed once, and this one already was.")
    found = Appeal(submission_id=submission.id, reason=reason.strip())
    db.session.add(found)
    db.session.flush()
    audit.record(
        "submission.appealed",
        "submission",
        submission.id,
        actor_id=user.id,
        after={"appeal": found.id},
    )
    for admin in db.session.scalars(
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == str(Role.PROGRAM_ADMIN))
    ):
        notify(
            admin,
            "appeal_opened",
            submission=submission,
            appeal=found,
            name=pseudonym(submission.id),
        )
    return found


def assign_appeal(actor: User, appeal_id: int) -> ReviewAssignment:
    found = db.session.get(Appeal, appeal_id)
    if found is None:
        raise NotFoundError("No such appeal.")
    if found.status != "open":
        raise ConflictError("This appeal already has a reviewer.")
    submission = db.session.get(Submission, found.submission_id)
    fresh = eligible_reviewers(submission)
    if not fresh:
        raise ConflictError("No fresh qualified reviewer is free; add capacity and try again.")
    found.status = "assigned"
    return _assign(submission, fresh[0], AssignmentRole.APPEAL, actor_id=actor.id)


def resolve_appeal(assignment: ReviewAssignment) -> Decision | None:
    """The fresh reviewer's scores decide the appeal."""
    decision = decision_for(assignment.submission_id)
    found = db.session.scalar(
        select(Appeal).where(Appeal.submission_id == assignment.submission_id)
    )
    if decision is None or found is None or found.status == "decided":
        return decision
    version = db.session.get(RubricVersion, decision.rubric_version_id)
    decision.original_outcome = decision.outcome
    decision.outcome = _outcome(version, assignment.levels)
    decision.method = str(DecisionMethod.APPEAL)
    decision.final_levels = _combined(version, [assignment], assignment)
    decision.decided_at = utcnow()
    found.status = "decided"
    found.decided_at = decision.decided_at
    submission = db.session.get(Submission, assignment.submission_id)
    submission.status = SubmissionStatus.IN_REVIEW  # _apply_outcome records the change
    _apply_outcome(submission, decision)
    return decision


def grant_extra_attempt(
    actor: User, teacher_id: int | None, code: str, reason: str, *, teacher_email: str | None = None
) -> ExtraAttempt:
    if not reason.strip():
        raise InvalidError("Give a reason; it is kept in the audit log.", {"reason": ["Required."]})
    teacher = db.session.get(User, teacher_id) if teacher_id else None
    if teacher is None and teacher_email:
        teacher = db.session.scalar(select(User).where(User.email == teacher_email.strip().lower()))
    if teacher is None:
        raise NotFoundError("No such teacher.")
    teacher_id = teacher.id
    grant = ExtraAttempt(
        teacher_id=teacher_id, credential_code=code, granted_by_id=actor.id, reason=reason.strip()
    )
    db.session.add(grant)
    db.session.flush()
    audit.record(
        "submission.extra_attempt_granted",
        "user",
        teacher_id,
        actor_id=actor.id,
        after={"code": code, "reason": grant.reason},
    )
    return grant


def extra_attempts(user: User, code: str) -> int:
    return (
        db.session.scalar(
            select(func.count(ExtraAttempt.id)).where(
                ExtraAttempt.teacher_id == user.id, ExtraAttempt.credential_code == code
            )
        )
        or 0
    )


# --- Deadlines ------------------------------------------------------------------------------


def check_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Reminders at the configured shares of the time; overdue reviews move on."""
    now = now or utcnow()
    counts = {"reminders": 0, "reassigned": 0}
    percents = sorted(current_app.config["REVIEW_REMINDER_PERCENTS"])
    for assignment in db.session.scalars(
        select(ReviewAssignment).where(ReviewAssignment.status == AssignmentStatus.ASSIGNED)
    ).all():
        if now >= assignment.due_at:
            reassign(None, assignment, now=now, reason="overdue")
            notify(
                assignment.reviewer,
                "review_reassigned",
                assignment=assignment,
                name=pseudonym(assignment.submission_id),
            )
            counts["reassigned"] += 1
            continue
        span = (assignment.due_at - assignment.assigned_at).total_seconds()
        elapsed = (now - assignment.assigned_at).total_seconds()
        due_now = [
            p for p in percents if elapsed >= span * p / 100 and p not in assignment.reminders_sent
        ]
        if due_now:
            assignment.reminders_sent = sorted({*assignment.reminders_sent, *due_now})
            notify(
                assignment.reviewer,
                "review_reminder",
                assignment=assignment,
                name=pseudonym(assignment.submission_id),
                percent=max(due_now),
            )
            counts["reminders"] += 1
    db.session.flush()
    return counts


# --- Operations ---------------------------------------------------------------------------------


def dashboard(now: datetime | None = None) -> dict[str, Any]:
    """Work in flight, and decisions and turnaround of the last RECENT_DAYS days.

    Every query reads only open work or one recent window through an index, so the
    page costs the same after a million finished submissions as after a thousand."""
    now = now or utcnow()
    since = now - timedelta(days=RECENT_DAYS)
    by_status = dict(
        db.session.execute(
            select(Submission.status, func.count(Submission.id))
            .where(Submission.status.in_([str(status) for status in IN_FLIGHT]))
            .group_by(Submission.status)
        ).all()
    )
    decided_recently = dict(
        db.session.execute(
            select(Decision.outcome, func.count(Decision.id))
            .where(Decision.decided_at >= since)
            .group_by(Decision.outcome)
        ).all()
    )
    overdue = list(
        db.session.scalars(
            select(ReviewAssignment)
            .options(selectinload(ReviewAssignment.reviewer))
            .where(
                ReviewAssignment.status == AssignmentStatus.ASSIGNED, ReviewAssignment.due_at < now
            )
            .order_by(ReviewAssignment.due_at, ReviewAssignment.id)
        )
    )
    # A correlated lookup per recent decision: a join would let PostgreSQL choose to
    # hash every submission ever made.
    submitted_at = (
        select(Submission.submitted_at)
        .where(Submission.id == Decision.submission_id)
        .correlate(Decision)
        .scalar_subquery()
    )
    turnaround = sorted(
        (decided - submitted).total_seconds() / 86400
        for submitted, decided in db.session.execute(
            select(submitted_at, Decision.decided_at).where(Decision.decided_at >= since)
        ).all()
        if submitted and decided
    )
    load = open_load()
    reviewers = db.session.execute(
        select(User, ReviewerProfile)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == str(Role.REVIEWER)))
        .outerjoin(ReviewerProfile, ReviewerProfile.user_id == User.id)
        .order_by(User.name)
    ).all()
    return {
        "by_status": by_status,
        "decided_recently": decided_recently,
        "recent_days": RECENT_DAYS,
        "overdue": overdue,
        "awaiting": awaiting_reviewer(),
        "turnaround_days": _distribution(turnaround),
        "reviewer_load": [
            {
                "user": u,
                "open": load.get(u.id, 0),
                "capacity": p.capacity if p else 5,
                "available": p.available if p else True,
            }
            for u, p in reviewers
        ],
        "open_appeals": list(db.session.scalars(select(Appeal).where(Appeal.status == "open"))),
    }


def _distribution(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "p90": None, "max": None}

    def quantile(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))], 1)

    return {
        "count": len(values),
        "median": quantile(0.5),
        "p90": quantile(0.9),
        "max": round(values[-1], 1),
    }


def set_profile(actor: User, reviewer_id: int, data: dict[str, Any]) -> ReviewerProfile:
    profile = db.session.get(ReviewerProfile, reviewer_id)
    if profile is None:
        if db.session.get(User, reviewer_id) is None:
            raise NotFoundError("No such reviewer.")
        profile = ReviewerProfile(user_id=reviewer_id)
        db.session.add(profile)
    for field in ("capacity", "available", "is_lead"):
        if field in data and data[field] is not None:
            setattr(profile, field, data[field])
    db.session.flush()
    audit.record(
        "reviewer.profile_updated",
        "user",
        reviewer_id,
        actor_id=actor.id,
        after={k: data.get(k) for k in ("capacity", "available", "is_lead")},
    )
    return profile


def add_conflict(
    actor: User,
    reviewer_id: int,
    organization_id: int | None,
    person_id: int | None,
    note: str | None,
) -> ReviewerConflict:
    if not organization_id and not person_id:
        raise InvalidError("Name an organization or a person.")
    if organization_id and db.session.get(Organization, organization_id) is None:
        message = f"No organization has the id {organization_id}."
        raise InvalidError(message, {"organization_id": [message]})
    if person_id and db.session.get(User, person_id) is None:
        message = f"No person has the id {person_id}."
        raise InvalidError(message, {"person_id": [message]})
    conflict = ReviewerConflict(
        reviewer_id=reviewer_id, organization_id=organization_id, person_id=person_id, note=note
    )
    db.session.add(conflict)
    db.session.flush()
    audit.record(
        "reviewer.conflict_declared",
        "user",
        reviewer_id,
        actor_id=actor.id,
        after={"organization": organization_id, "person": person_id},
    )
    return conflict


def grant_qualification(actor_id: int | None, reviewer_id: int, scopes: Iterable[str]) -> None:
    """Qualify by hand (used for the demo and by admins for trusted leads)."""
    for scope in scopes:
        if db.session.scalar(
            select(ReviewerQualification.id).where(
                ReviewerQualification.user_id == reviewer_id, ReviewerQualification.scope == scope
            )
        ):
            continue
        db.session.add(ReviewerQualification(user_id=reviewer_id, scope=scope, source="admin"))
        audit.record(
            "reviewer.qualified", "user", reviewer_id, actor_id=actor_id, after={"scope": scope}
        )
    db.session.flush()


def organizations() -> list[Any]:
    from accounts.models import Organization

    return list(db.session.scalars(select(Organization).order_by(Organization.name)))


def conflicts_of(user: User) -> list[ReviewerConflict]:
    return list(
        db.session.scalars(select(ReviewerConflict).where(ReviewerConflict.reviewer_id == user.id))
    )
