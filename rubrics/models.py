"""Rubrics: versions (immutable once published), ordered criteria and levels."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db_types import UTCDateTime, utcnow
from core.extensions import db


class VersionStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class PassingRuleKind(StrEnum):
    ALL_AT_LEAST = "all_at_least"  # every criterion at or above a named level
    WEIGHTED_THRESHOLD = "weighted_threshold"  # weighted mean score at or above a number


def new_identifier() -> str:
    return str(uuid.uuid4())


class Rubric(db.Model):
    __tablename__ = "rubrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    versions: Mapped[list[RubricVersion]] = relationship(
        back_populates="rubric", order_by="RubricVersion.number"
    )


class RubricVersion(db.Model):
    __tablename__ = "rubric_versions"
    __table_args__ = (UniqueConstraint("rubric_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=VersionStatus.DRAFT)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    passing_rule_kind: Mapped[str] = mapped_column(String(30), default=PassingRuleKind.ALL_AT_LEAST)
    passing_level: Mapped[str | None] = mapped_column(String(60))
    passing_threshold: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rubric: Mapped[Rubric] = relationship(back_populates="versions")
    criteria: Mapped[list[RubricCriterion]] = relationship(
        back_populates="version",
        order_by="RubricCriterion.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    @property
    def label(self) -> str:
        return f"{self.rubric.code} v{self.number}"


class RubricCriterion(db.Model):
    __tablename__ = "rubric_criteria"
    __table_args__ = (UniqueConstraint("version_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("rubric_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    evidence_parts: Mapped[list[str]] = mapped_column(JSON, default=list)
    # CASE: the CFItem this criterion judges (URI), when known.
    item_uri: Mapped[str | None] = mapped_column(String(500))

    version: Mapped[RubricVersion] = relationship(back_populates="criteria")
    levels: Mapped[list[CriterionLevel]] = relationship(
        back_populates="criterion",
        order_by="CriterionLevel.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )


class CriterionLevel(db.Model):
    __tablename__ = "criterion_levels"
    __table_args__ = (UniqueConstraint("criterion_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(36), unique=True, default=new_identifier)
    criterion_id: Mapped[int] = mapped_column(
        ForeignKey("rubric_criteria.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    score: Mapped[float] = mapped_column(Float)
    descriptor: Mapped[str] = mapped_column(Text)

    criterion: Mapped[RubricCriterion] = relationship(back_populates="levels")
