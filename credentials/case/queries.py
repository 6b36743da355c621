"""Look-ups behind the CASE API and the resolvable URIs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from core.errors import NotFoundError
from core.extensions import db
from credentials.case.uris import document_uri
from credentials.models import Framework, FrameworkItem
from credentials.services import list_frameworks
from rubrics.models import RubricVersion, VersionStatus


def _one(statement: Any, message: str) -> Any:
    found = db.session.scalar(statement)
    if found is None:
        raise NotFoundError(message)
    return found


def framework_by_identifier(identifier: str) -> Framework:
    return _one(
        select(Framework).where(Framework.identifier == identifier), f"No CFDocument {identifier}."
    )


def item_by_identifier(identifier: str) -> FrameworkItem:
    return _one(
        select(FrameworkItem).where(FrameworkItem.identifier == identifier),
        f"No CFItem {identifier}.",
    )


def published_rubric_version(identifier: str) -> RubricVersion:
    return _one(
        select(RubricVersion).where(
            RubricVersion.identifier == identifier, RubricVersion.status == VersionStatus.PUBLISHED
        ),
        f"No published CFRubric {identifier}.",
    )


def _summary(framework: Framework, item_count: int) -> dict[str, Any]:
    return {
        "code": framework.code,
        "identifier": framework.identifier,
        "uri": document_uri(framework),
        "title": framework.title,
        "version": framework.version,
        "items": item_count,
        "last_change": framework.last_change,
    }


def framework_summaries() -> list[dict[str, Any]]:
    counts = dict(
        db.session.execute(
            select(FrameworkItem.framework_id, func.count()).group_by(FrameworkItem.framework_id)
        ).all()
    )
    return [_summary(framework, counts.get(framework.id, 0)) for framework in list_frameworks()]


def framework_summary(framework: Framework) -> dict[str, Any]:
    count = db.session.scalar(
        select(func.count()).where(FrameworkItem.framework_id == framework.id)
    )
    return _summary(framework, count or 0)
