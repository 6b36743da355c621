"""Submissions (one row per attempt), evidence items, stored files, uploads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db_types import UTCDateTime, utcnow
from core.extensions import db
from core.i18n import N_
from credentials.models import MicroCredential


class SubmissionStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the completeness pre-check
    INCOMPLETE = "incomplete"  # returned by the pre-check; editable again
    IN_REVIEW = "in_review"  # complete; with the reviewers
    PASSED = "passed"
    NOT_YET = "not_yet"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {
            "draft": N_("Draft"),
            "submitted": N_("Submitted, checking completeness"),
            "incomplete": N_("Returned: something is missing"),
            "in_review": N_("In review"),
            "passed": N_("Earned"),
            "not_yet": N_("Not yet: feedback ready"),
            "withdrawn": N_("Withdrawn"),
        }[self.value]


EDITABLE = (SubmissionStatus.DRAFT, SubmissionStatus.INCOMPLETE)
OPEN = (*EDITABLE, SubmissionStatus.SUBMITTED, SubmissionStatus.IN_REVIEW)


class Submission(db.Model):
    """One attempt by one teacher at one version of a micro-credential."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("teacher_id", "credential_code", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("micro_credentials.id"), index=True)
    credential_code: Mapped[str] = mapped_column(String(40), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    status: Mapped[str] = mapped_column(String(20), default=SubmissionStatus.DRAFT, index=True)
    privacy_attested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    precheck_problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Optimistic locking: a stale tab's save fails instead of overwriting.
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": lock_version}

    teacher: Mapped[User] = relationship()
    credential: Mapped[MicroCredential] = relationship(lazy="joined")
    previous: Mapped[Submission | None] = relationship(remote_side=[id])
    items: Mapped[list[EvidenceItem]] = relationship(
        back_populates="submission",
        order_by="(EvidenceItem.part_key, EvidenceItem.position, EvidenceItem.id)",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def status_label(self) -> str:
        return SubmissionStatus(self.status).label

    @property
    def editable(self) -> bool:
        return self.status in EDITABLE

    def items_for(self, part_key: str) -> list[EvidenceItem]:
        return [item for item in self.items if item.part_key == part_key]


class StoredFile(db.Model):
    """An uploaded file as stored: content-addressed, type sniffed from content."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # evidence kind: pdf, image, video…
    original_name: Mapped[str] = mapped_column(String(255))  # for display only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ItemKind(StrEnum):
    FILE = "file"
    TEXT = "text"
    LINK = "link"


class EvidenceItem(db.Model):
    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    part_key: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(200))
    text_html: Mapped[str | None] = mapped_column(Text)  # sanitized
    word_count: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(2000))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id"))
    alt_text: Mapped[str | None] = mapped_column(Text)  # images
    transcript: Mapped[str | None] = mapped_column(Text)  # audio and video
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    submission: Mapped[Submission] = relationship(back_populates="items")
    file: Mapped[StoredFile | None] = relationship(lazy="joined")


class UploadSession(db.Model):
    """A resumable upload in progress (tus-style offsets)."""

    __tablename__ = "upload_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    part_key: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    staging_name: Mapped[str] = mapped_column(String(80))
    alt_text: Mapped[str | None] = mapped_column(Text)
    transcript: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_item_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_items.id"))
