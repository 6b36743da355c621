"""Rubric operations. A published version never changes: edits go to a new draft."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import Session

from core import audit
from core.db_types import utcnow
from core.diffing import DiffRow, diff_documents
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from rubrics.models import (
    CriterionLevel,
    PassingRuleKind,
    Rubric,
    RubricCriterion,
    RubricVersion,
    VersionStatus,
)


class PublishedRubricChanged(ConflictError):
    """Raised at flush time if anything tries to change a published version."""


# --- Guard ------------------------------------------------------------------


def _was_published(session: Session, version: RubricVersion) -> bool:
    history = inspect(version).attrs.status.history
    if history.deleted:
        return history.deleted[0] == VersionStatus.PUBLISHED
    if history.added:
        # Set while expired (as after any commit): the old value was never loaded.
        stored = session.scalar(select(RubricVersion.status).where(RubricVersion.id == version.id))
        return stored == VersionStatus.PUBLISHED
    return version.status == VersionStatus.PUBLISHED


def _version_of(session: Session, obj: object) -> RubricVersion | None:
    """The version a rubric row belongs to, also for a row linked only by its
    foreign key (a new row) or just removed from its parent's list."""
    if isinstance(obj, RubricVersion):
        return obj
    if isinstance(obj, RubricCriterion):
        if obj.version is None and obj.version_id is not None:
            return session.get(RubricVersion, obj.version_id)
        return obj.version
    if isinstance(obj, CriterionLevel):
        criterion = obj.criterion
        if criterion is None and obj.criterion_id is not None:
            criterion = session.get(RubricCriterion, obj.criterion_id)
        return _version_of(session, criterion)
    return None


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_published(session: Session, _context: Any, _instances: Any) -> None:
    """Defence in depth: services check first, this catches anything that slips."""
    new, deleted = session.new, session.deleted
    for obj in itertools.chain(new, session.dirty, deleted):
        version = _version_of(session, obj)
        if version is None or inspect(version).pending:
            continue
        changed = obj in new or obj in deleted or session.is_modified(obj)
        if changed and _was_published(session, version):
            raise PublishedRubricChanged(
                f"Rubric {version.rubric.code} version {version.number} is published and "
                "cannot change. Create a new version instead."
            )


# --- Documents --------------------------------------------------------------


def document_from_version(version: RubricVersion) -> dict[str, Any]:
    """The editable document for a version (levels shared by all criteria)."""
    first = version.criteria[0].levels if version.criteria else []
    rule: dict[str, Any] = {"kind": version.passing_rule_kind}
    if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST:
        rule["level"] = version.passing_level
    else:
        rule["threshold"] = version.passing_threshold
    return {
        "title": version.title,
        "description": version.description,
        "levels": [{"name": level.name, "score": level.score} for level in first],
        "passing_rule": rule,
        "criteria": [
            {
                "key": criterion.key,
                "title": criterion.title,
                "description": criterion.description,
                "weight": criterion.weight,
                "evidence_parts": list(criterion.evidence_parts or []),
                "descriptors": {level.name: level.descriptor for level in criterion.levels},
            }
            for criterion in version.criteria
        ],
    }


def _fill_version(version: RubricVersion, document: Mapping[str, Any]) -> None:
    rule = document["passing_rule"]
    version.title = document["title"]
    version.description = document.get("description")
    version.passing_rule_kind = rule["kind"]
    version.passing_level = rule.get("level")
    version.passing_threshold = rule.get("threshold")
    # Remove the old rows first: the unit of work inserts before it deletes,
    # which would trip the unique (version, key) constraint.
    version.criteria.clear()
    if version.id is not None:
        db.session.flush()
    version.criteria = [
        RubricCriterion(
            position=position,
            key=criterion["key"],
            title=criterion["title"],
            description=criterion.get("description"),
            weight=criterion.get("weight", 1.0),
            evidence_parts=list(criterion.get("evidence_parts") or []),
            levels=[
                CriterionLevel(
                    position=level_position,
                    name=level["name"],
                    score=level["score"],
                    descriptor=criterion["descriptors"][level["name"]],
                )
                for level_position, level in enumerate(document["levels"], start=1)
            ],
        )
        for position, criterion in enumerate(document["criteria"], start=1)
    ]


# --- Queries ----------------------------------------------------------------


def get_rubric(code: str) -> Rubric:
    rubric = db.session.scalar(select(Rubric).where(Rubric.code == code))
    if rubric is None:
        raise NotFoundError(f"No rubric {code}.")
    return rubric


def get_version(code: str, number: int) -> RubricVersion:
    version = db.session.scalar(
        select(RubricVersion)
        .join(Rubric)
        .where(Rubric.code == code, RubricVersion.number == number)
    )
    if version is None:
        raise NotFoundError(f"Rubric {code} has no version {number}.")
    return version


def list_rubrics() -> list[Rubric]:
    return list(db.session.scalars(select(Rubric).order_by(Rubric.code)))


def latest_version(rubric: Rubric, *, published_only: bool = False) -> RubricVersion | None:
    versions = [v for v in rubric.versions if v.is_published or not published_only]
    return versions[-1] if versions else None


# --- Changes ----------------------------------------------------------------


def create_rubric(
    code: str, document: Mapping[str, Any], *, actor_id: int | None = None
) -> RubricVersion:
    if db.session.scalar(select(Rubric.id).where(Rubric.code == code)) is not None:
        raise ConflictError(f"Rubric {code} already exists.")
    rubric = Rubric(code=code, title=document["title"])
    version = RubricVersion(rubric=rubric, number=1, status=VersionStatus.DRAFT)
    _fill_version(version, document)
    db.session.add(rubric)
    db.session.flush()
    audit.record(
        "rubric.created",
        "rubric_version",
        version.id,
        actor_id=actor_id,
        after={"code": code, "number": 1},
    )
    return version


def update_draft(
    version: RubricVersion, document: Mapping[str, Any], *, actor_id: int | None = None
) -> RubricVersion:
    if version.is_published:
        raise ConflictError(
            f"Rubric {version.rubric.code} version {version.number} is published and cannot "
            "change. Create a new version instead."
        )
    _fill_version(version, document)
    version.rubric.title = document["title"]
    db.session.flush()
    audit.record("rubric.draft_updated", "rubric_version", version.id, actor_id=actor_id)
    return version


def new_draft(rubric: Rubric, *, actor_id: int | None = None) -> RubricVersion:
    """A draft copy of the latest version (the existing draft, if there is one)."""
    latest = latest_version(rubric)
    if latest is not None and not latest.is_published:
        return latest
    number = (
        db.session.scalar(
            select(func.max(RubricVersion.number)).where(RubricVersion.rubric_id == rubric.id)
        )
        or 0
    ) + 1
    version = RubricVersion(rubric=rubric, number=number, status=VersionStatus.DRAFT)
    if latest is not None:
        _fill_version(version, document_from_version(latest))
    db.session.add(version)
    db.session.flush()
    audit.record(
        "rubric.version_created",
        "rubric_version",
        version.id,
        actor_id=actor_id,
        after={"code": rubric.code, "number": number},
    )
    return version


def publish_problems(version: RubricVersion) -> list[str]:
    """Why this version cannot be published (empty when it can)."""
    problems: list[str] = []
    if not version.criteria:
        problems.append("Add at least one criterion.")
    for criterion in version.criteria:
        if len(criterion.levels) < 2:
            problems.append(f"Criterion {criterion.key} needs at least two levels.")
        scores = [level.score for level in criterion.levels]
        if any(b <= a for a, b in itertools.pairwise(scores)):
            problems.append(
                f"Criterion {criterion.key}: level scores must rise strictly from first to last."
            )
        if criterion.weight <= 0:
            problems.append(f"Criterion {criterion.key}: the weight must be above zero.")
    if problems:
        return problems
    if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST:
        name = version.passing_level
        missing = [c.key for c in version.criteria if name not in {lv.name for lv in c.levels}]
        if missing:
            problems.append(
                f"The passing level {name!r} is not a level of " + ", ".join(missing) + "."
            )
        elif all(c.levels[0].name == name for c in version.criteria):
            problems.append(
                f"The passing rule cannot be failed: {name!r} is the lowest level of every criterion."
            )
    elif version.passing_rule_kind == PassingRuleKind.WEIGHTED_THRESHOLD:
        threshold = version.passing_threshold
        highest = weighted_score(version, {c.key: c.levels[-1].name for c in version.criteria})
        lowest = weighted_score(version, {c.key: c.levels[0].name for c in version.criteria})
        if threshold is None:
            problems.append("Give the weighted score needed to pass.")
        elif threshold > highest:
            problems.append(
                f"The passing rule cannot be met: the best possible score is {highest:g}."
            )
        elif threshold <= lowest:
            problems.append(
                f"The passing rule cannot be failed: the lowest possible score is {lowest:g}."
            )
    else:
        problems.append(f"Unknown passing rule {version.passing_rule_kind!r}.")
    return problems


def publish(version: RubricVersion, *, actor_id: int | None = None) -> RubricVersion:
    if version.is_published:
        raise ConflictError(
            f"Rubric {version.rubric.code} version {version.number} is already published."
        )
    problems = publish_problems(version)
    if problems:
        raise InvalidError("This rubric version cannot be published yet.", {"rubric": problems})
    version.status = VersionStatus.PUBLISHED
    version.published_at = utcnow()
    db.session.flush()
    audit.record(
        "rubric.published",
        "rubric_version",
        version.id,
        actor_id=actor_id,
        after={"code": version.rubric.code, "number": version.number},
    )
    return version


# --- Scoring rules ------------------------------------------------------------


def _level(criterion: RubricCriterion, name: str) -> CriterionLevel:
    for level in criterion.levels:
        if level.name == name:
            return level
    raise InvalidError(f"{name!r} is not a level of criterion {criterion.key}.")


def weighted_score(version: RubricVersion, chosen: Mapping[str, str]) -> float:
    total_weight = sum(c.weight for c in version.criteria)
    total = sum(c.weight * _level(c, chosen[c.key]).score for c in version.criteria)
    return total / total_weight


def passes(version: RubricVersion, chosen: Mapping[str, str]) -> bool:
    """Whether levels chosen per criterion key meet the version's passing rule."""
    missing = [c.key for c in version.criteria if c.key not in chosen]
    if missing:
        raise InvalidError("Every criterion needs a level.", {"levels": missing})
    if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST:
        return all(
            _level(c, chosen[c.key]).score >= _level(c, version.passing_level or "").score
            for c in version.criteria
        )
    return weighted_score(version, chosen) >= (version.passing_threshold or 0.0)


def diff_versions(before: RubricVersion, after: RubricVersion) -> list[DiffRow]:
    return diff_documents(document_from_version(before), document_from_version(after))
