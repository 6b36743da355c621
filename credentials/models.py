"""Competency frameworks (CASE), micro-credentials with their versions, stacks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db_types import UTCDateTime, utcnow
from core.extensions import db
from core.i18n import N_
from rubrics.models import RubricVersion, new_identifier


class Theme(StrEnum):
    UDL = "udl"
    MTSS = "mtss"
    IPL = "ipl"

    @property
    def label(self) -> str:
        return {
            Theme.UDL: N_("Universal Design for Learning"),
            Theme.MTSS: N_("Multi-Tiered System of Supports"),
            Theme.IPL: N_("Inclusive personalization"),
        }[self]


class CredentialStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


# The statuses as pages show them (through _(status|capitalize)).
STATUS_LABELS = (N_("Draft"), N_("Published"), N_("Retired"))


GRADE_BANDS = ("K-2", "3-5", "6-8", "9-12")
EVIDENCE_KINDS = (
    "text",
    "link",
    "pdf",
    "document",
    "spreadsheet",
    "presentation",
    "image",
    "audio",
    "video",
)
EVIDENCE_SECTIONS = ("overview", "artifact", "reflection")


class Framework(db.Model):
    """A CASE CFDocument."""

    __tablename__ = "frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    uri: Mapped[str | None] = mapped_column(String(500))  # set when imported from elsewhere
    title: Mapped[str] = mapped_column(String(300))
    creator: Mapped[str] = mapped_column(String(300))
    publisher: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(10))
    adoption_status: Mapped[str | None] = mapped_column(String(40))
    license_uri: Mapped[str | None] = mapped_column(String(500))
    official_source_url: Mapped[str | None] = mapped_column(String(500))
    subjects: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_change: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    items: Mapped[list[FrameworkItem]] = relationship(
        back_populates="framework",
        order_by="FrameworkItem.position",
        cascade="all, delete-orphan",
    )
    associations: Mapped[list[ItemAssociation]] = relationship(
        back_populates="framework", order_by="ItemAssociation.id", cascade="all, delete-orphan"
    )


class FrameworkItem(db.Model):
    """A CASE CFItem: principle, guideline, consideration, competency…"""

    __tablename__ = "framework_items"
    __table_args__ = (UniqueConstraint("framework_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    uri: Mapped[str | None] = mapped_column(String(500))
    code: Mapped[str] = mapped_column(String(80), index=True)  # humanCodingScheme
    statement: Mapped[str] = mapped_column(Text)  # fullStatement
    abbreviated: Mapped[str | None] = mapped_column(String(300))
    item_type: Mapped[str | None] = mapped_column(String(60))  # CFItemType
    education_levels: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("framework_items.id", ondelete="CASCADE"), index=True
    )
    last_change: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    framework: Mapped[Framework] = relationship(back_populates="items")
    parent: Mapped[FrameworkItem | None] = relationship(remote_side=[id])


class ItemAssociation(db.Model):
    """A CASE CFAssociation other than the tree (isChildOf is the parent link)."""

    __tablename__ = "item_associations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    association_type: Mapped[str] = mapped_column(String(40))
    origin_id: Mapped[int] = mapped_column(ForeignKey("framework_items.id", ondelete="CASCADE"))
    destination_id: Mapped[int] = mapped_column(
        ForeignKey("framework_items.id", ondelete="CASCADE")
    )
    sequence: Mapped[int | None] = mapped_column(Integer)
    last_change: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    framework: Mapped[Framework] = relationship(back_populates="associations")
    origin: Mapped[FrameworkItem] = relationship(foreign_keys=[origin_id])
    destination: Mapped[FrameworkItem] = relationship(foreign_keys=[destination_id])


credential_alignments = Table(
    "credential_alignments",
    db.metadata,
    Column(
        "credential_id", ForeignKey("micro_credentials.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("item_id", ForeignKey("framework_items.id", ondelete="CASCADE"), primary_key=True),
)


class MicroCredential(db.Model):
    """One version of a micro-credential; ``code`` names the credential across versions."""

    __tablename__ = "micro_credentials"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    version_label: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=CredentialStatus.DRAFT, index=True)
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(10), index=True)
    summary: Mapped[str] = mapped_column(Text)
    competency: Mapped[str] = mapped_column(Text)
    # The catalog framework's CFItem for this competency (its CASE URI goes on badges).
    competency_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("framework_items.id", ondelete="SET NULL")
    )
    key_method: Mapped[str] = mapped_column(String(300))
    key_method_description: Mapped[str | None] = mapped_column(Text)
    method_components: Mapped[list[str]] = mapped_column(JSON, default=list)
    research: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    resources: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    grade_bands: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    pd_hours: Mapped[float] = mapped_column(Float)
    validity_months: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    prerequisites: Mapped[list[str]] = mapped_column(JSON, default=list)
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rubric_version: Mapped[RubricVersion] = relationship(lazy="joined")
    competency_item: Mapped[FrameworkItem | None] = relationship()
    alignments: Mapped[list[FrameworkItem]] = relationship(
        secondary=credential_alignments, order_by="FrameworkItem.code"
    )
    evidence_parts: Mapped[list[EvidencePart]] = relationship(
        back_populates="credential",
        order_by="EvidencePart.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def theme_label(self) -> str:
        return Theme(self.theme).label


class EvidencePart(db.Model):
    """What a teacher submits for one part of a micro-credential."""

    __tablename__ = "evidence_parts"
    __table_args__ = (UniqueConstraint("credential_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("micro_credentials.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(20))
    section: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    accepted: Mapped[list[str]] = mapped_column(JSON, default=list)
    min_words: Mapped[int | None] = mapped_column(Integer)
    max_words: Mapped[int | None] = mapped_column(Integer)
    min_count: Mapped[int] = mapped_column(Integer, default=1)
    required: Mapped[bool] = mapped_column(default=True)
    privacy_guidance: Mapped[str] = mapped_column(Text)

    credential: Mapped[MicroCredential] = relationship(back_populates="evidence_parts")


class Stack(db.Model):
    """A larger credential earned by earning a set of micro-credentials."""

    __tablename__ = "stacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    competency: Mapped[str] = mapped_column(Text)
    required: Mapped[list[str]] = mapped_column(JSON, default=list)
    choose_count: Mapped[int] = mapped_column(Integer, default=0)
    choose_from: Mapped[list[str]] = mapped_column(JSON, default=list)
    pd_hours_rule: Mapped[str] = mapped_column(String(40), default="sum_of_members")
    status: Mapped[str] = mapped_column(String(20), default=CredentialStatus.PUBLISHED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
