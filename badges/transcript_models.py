"""Who may see an educator's licensure transcript: shares with a state, share links."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db_types import UTCDateTime, utcnow
from core.extensions import db


class TranscriptShare(db.Model):
    """The educator lets their licensing state's verifiers look their transcript up.

    Unsharing sets ``revoked_at``; sharing again makes a new row, so the history of
    consent stays readable.
    """

    __tablename__ = "transcript_shares"
    __table_args__ = (Index("ix_transcript_shares_teacher_state", "teacher_id", "us_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    us_state: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    teacher: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class TranscriptLink(db.Model):
    """A link to the transcript for anyone who holds it. Only the token's SHA-256
    is stored; the token is shown once."""

    __tablename__ = "transcript_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    teacher: Mapped[User] = relationship()

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
