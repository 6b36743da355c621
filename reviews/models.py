"""Reviewer profiles, assignments, scores, decisions, appeals, calibration."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db_types import UTCDateTime, utcnow
from core.extensions import db
from evidence.models import Submission


class AssignmentRole(StrEnum):
    PRIMARY = "primary"  # one of the two blind scorers
    ADJUDICATOR = "adjudicator"  # decides when the two disagree on the outcome
    APPEAL = "appeal"  # a fresh reviewer after an appeal
    # A calibration anchor slipped blind into a live queue: scored like any other
    # work, compared with the anchor's true levels, never decided.
    CHECK = "check"


class AssignmentStatus(StrEnum):
    ASSIGNED = "assigned"
    SUBMITTED = "submitted"
    REASSIGNED = "reassigned"  # overdue or moved by an admin; no longer counts


ACTIVE_ASSIGNMENT = (AssignmentStatus.ASSIGNED, AssignmentStatus.SUBMITTED)


class ReviewerProfile(db.Model):
    __tablename__ = "reviewer_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)  # may adjudicate
    notes: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()


class ReviewerQualification(db.Model):
    """Qualified to review a theme (or one micro-credential code), from calibration."""

    __tablename__ = "reviewer_qualifications"
    __table_args__ = (UniqueConstraint("user_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(40))  # a theme ("udl") or a code ("UDL-05")
    qualified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    exact_agreement: Mapped[float | None] = mapped_column(Float)
    weighted_kappa: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20), default="calibration")  # or "admin"


class ReviewerConflict(db.Model):
    """A reviewer never reviews work from this organization or by this person."""

    __tablename__ = "reviewer_conflicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(String(300))


class ReviewAssignment(db.Model):
    __tablename__ = "review_assignments"
    __table_args__ = (
        UniqueConstraint("submission_id", "reviewer_id"),
        # A reviewer's queue: open work by due date, finished work newest first.
        Index("ix_review_assignments_queue_due", "reviewer_id", "status", "due_at"),
        Index("ix_review_assignments_queue_done", "reviewer_id", "status", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(20), default=AssignmentRole.PRIMARY)
    status: Mapped[str] = mapped_column(String(20), default=AssignmentStatus.ASSIGNED, index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_sent: Mapped[list[int]] = mapped_column(JSON, default=list)  # percentages
    # Scores are kept per criterion on the assignment: level name, score, feedback.
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    levels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    submission: Mapped[Submission] = relationship()
    reviewer: Mapped[User] = relationship()

    @property
    def is_open(self) -> bool:
        return self.status == AssignmentStatus.ASSIGNED

    @property
    def shown_role(self) -> str:
        """The role the reviewer sees: a check submission passes for a primary review."""
        return AssignmentRole.PRIMARY if self.role == AssignmentRole.CHECK else self.role


class DecisionMethod(StrEnum):
    AGREEMENT = "agreement"
    ADJUDICATION = "adjudication"
    APPEAL = "appeal"


class Decision(db.Model):
    """Exactly one per attempt (the unique constraint is the last line of defence)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    outcome: Mapped[str] = mapped_column(String(20))  # "passed" or "not_yet"
    method: Mapped[str] = mapped_column(String(20))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    # {criterion key: {"level": name, "score": n, "feedback": [text, ...]}}
    final_levels: Mapped[dict[str, Any]] = mapped_column(JSON)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    original_outcome: Mapped[str | None] = mapped_column(String(20))  # before an appeal

    submission: Mapped[Submission] = relationship()


class Appeal(db.Model):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, assigned, decided
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ExtraAttempt(db.Model):
    __tablename__ = "extra_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_code: Mapped[str] = mapped_column(String(40))
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalibrationAnchor(db.Model):
    """A submission with agreed "true" levels, used to calibrate reviewers."""

    __tablename__ = "calibration_anchors"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), unique=True
    )
    theme: Mapped[str] = mapped_column(String(10), index=True)
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    true_levels: Mapped[dict[str, str]] = mapped_column(JSON)  # {criterion key: level name}
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    submission: Mapped[Submission] = relationship()


class CalibrationScore(db.Model):
    __tablename__ = "calibration_scores"
    __table_args__ = (UniqueConstraint("anchor_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    anchor_id: Mapped[int] = mapped_column(ForeignKey("calibration_anchors.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    levels: Mapped[dict[str, str]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    anchor: Mapped[CalibrationAnchor] = relationship()


class ReliabilitySnapshot(db.Model):
    """The reliability report as computed by the periodic job (pages read the latest)."""

    __tablename__ = "reliability_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class Notification(db.Model):
    """Mail waiting for a daily digest (immediate mail is sent at once)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class NotificationPreference(db.Model):
    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(10), default="immediate")  # or "digest"
