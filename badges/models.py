"""Issuers and their keys, status lists, issued badges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import User
from core.db_types import UTCDateTime, utcnow
from core.extensions import db
from credentials.models import MicroCredential


class Issuer(db.Model):
    """An issuing organization, identified by did:web:<host>:issuers:<slug>."""

    __tablename__ = "issuers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500))
    email: Mapped[str] = mapped_column(String(254))
    description: Mapped[str | None] = mapped_column(Text)
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    keys: Mapped[list[IssuerKey]] = relationship(back_populates="issuer", order_by="IssuerKey.id")


class IssuerKey(db.Model):
    """An Ed25519 signing key; retired keys stay published so old badges verify."""

    __tablename__ = "issuer_keys"
    __table_args__ = (UniqueConstraint("issuer_id", "fragment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id", ondelete="CASCADE"), index=True)
    fragment: Mapped[str] = mapped_column(String(40))  # "key-1" → did:web:...#key-1
    public_multikey: Mapped[str] = mapped_column(String(120))
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet, key from configuration
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    compromised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    issuer: Mapped[Issuer] = relationship(back_populates="keys")

    @property
    def active(self) -> bool:
        return self.retired_at is None and self.compromised_at is None


class SigningCertificate(db.Model):
    """X.509 material for PDF signatures: per issuer, or the local root (issuer None)."""

    __tablename__ = "signing_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_id: Mapped[int | None] = mapped_column(
        ForeignKey("issuers.id", ondelete="CASCADE"), index=True
    )
    is_root: Mapped[bool] = mapped_column(Boolean, default=False)
    certificate_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StatusList(db.Model):
    __tablename__ = "status_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="revocation")
    size: Mapped[int] = mapped_column(Integer, default=131072)
    encoded_list: Mapped[str] = mapped_column(Text)
    credential_json: Mapped[str | None] = mapped_column(Text)  # signed, as published
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    issuer: Mapped[Issuer] = relationship()


class Badge(db.Model):
    """An issued Open Badges 3.0 credential: never edited, only revoked."""

    __tablename__ = "badges"
    __table_args__ = (
        UniqueConstraint("submission_id", "competency_code"),
        UniqueConstraint("status_list_id", "status_index"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    competency_code: Mapped[str] = mapped_column(String(40))  # micro-credential or stack code
    kind: Mapped[str] = mapped_column(String(20), default="micro_credential")  # or "stack"
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("micro_credentials.id"))
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id"))
    key_id: Mapped[int] = mapped_column(ForeignKey("issuer_keys.id"))
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    hours: Mapped[float] = mapped_column(Float, default=0.0)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    credential_json: Mapped[str] = mapped_column(Text)  # byte for byte as signed
    credential_jwt: Mapped[str | None] = mapped_column(Text)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))  # set when the PDF is stored
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    teacher: Mapped[User] = relationship()
    credential: Mapped[MicroCredential | None] = relationship()
    issuer: Mapped[Issuer] = relationship()
    key: Mapped[IssuerKey] = relationship()
    status_list: Mapped[StatusList] = relationship()
