"""A framework as a CASE 1.1 CFPackage: its document, items, associations and the
published rubrics that judge its items.

Our tree link (``FrameworkItem.parent``) is CASE's isChildOf association; it has
no row of its own, so its identifier is derived from the child's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.extensions import db
from credentials.case.uris import case_uri, document_uri, item_uri, uri_key
from credentials.models import Framework, FrameworkItem
from credentials.services import item_children, stable_identifier
from rubrics import services as rubric_services
from rubrics.models import Rubric, RubricCriterion, RubricVersion, VersionStatus

ItemFinder = Callable[[str], FrameworkItem | None]


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    """CASE leaves absent optional fields out rather than sending null."""
    return {key: value for key, value in record.items() if value not in (None, [], {})}


def _link(title: str, identifier: str, uri: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": uri}


def document_link(framework: Framework) -> dict[str, str]:
    return _link(framework.title, framework.identifier, document_uri(framework))


def _item_link(item: FrameworkItem) -> dict[str, str]:
    return _link(item.statement, item.identifier, item_uri(item))


def cf_document(framework: Framework) -> dict[str, Any]:
    license_uri = framework.license_uri
    return _compact(
        {
            "identifier": framework.identifier,
            "uri": document_uri(framework),
            "caseVersion": "1.1",
            "creator": framework.creator,
            "title": framework.title,
            "lastChangeDateTime": _timestamp(framework.last_change),
            "officialSourceURL": framework.official_source_url,
            "publisher": framework.publisher,
            "description": framework.description,
            "subject": list(framework.subjects or []),
            "language": framework.language,
            "version": framework.version,
            "adoptionStatus": framework.adoption_status,
            # We keep only the license's address; its UUID is derived from it.
            "licenseURI": _link(license_uri, stable_identifier("license", license_uri), license_uri)
            if license_uri
            else None,
        }
    )


def cf_item(item: FrameworkItem, document: dict[str, str]) -> dict[str, Any]:
    return _compact(
        {
            "identifier": item.identifier,
            "uri": item_uri(item),
            "CFDocumentURI": document,
            "fullStatement": item.statement,
            "abbreviatedStatement": item.abbreviated,
            # An imported item without a humanCodingScheme is coded by its identifier.
            "humanCodingScheme": None if item.code == item.identifier else item.code,
            "CFItemType": item.item_type,
            "educationLevel": list(item.education_levels or []),
            "notes": item.notes,
            "language": item.language,
            "lastChangeDateTime": _timestamp(item.last_change),
        }
    )


def tree_association_identifier(child_identifier: str) -> str:
    return stable_identifier("isChildOf", child_identifier)


def _association(
    identifier: str,
    kind: str,
    origin: dict[str, str],
    destination: dict[str, str],
    sequence: int | None,
    changed: datetime,
) -> dict[str, Any]:
    return _compact(
        {
            "identifier": identifier,
            "uri": case_uri("CFAssociations", identifier),
            "associationType": kind,
            "originNodeURI": origin,
            "destinationNodeURI": destination,
            "sequenceNumber": sequence,
            "lastChangeDateTime": _timestamp(changed),
        }
    )


def _tree_order(framework: Framework) -> list[FrameworkItem]:
    """Depth first, siblings by position then code: the order a person reads in."""
    tree = item_children(framework)

    def children(parent_id: int | None) -> list[FrameworkItem]:
        siblings = tree.get(parent_id, [])
        return sorted(siblings, key=lambda item: (item.position, item.code, item.identifier))

    ordered: list[FrameworkItem] = []
    stack = list(reversed(children(None)))
    while stack:
        item = stack.pop()
        ordered.append(item)
        stack.extend(reversed(children(item.id)))
    return ordered


def item_finder(items: Iterable[FrameworkItem] = ()) -> ItemFinder:
    """Find an item by URI among ``items`` first, then in the database."""
    known: dict[str, FrameworkItem | None] = {uri_key(item_uri(item)): item for item in items}

    def find(uri: str) -> FrameworkItem | None:
        key = uri_key(uri)
        if key not in known:
            known[key] = db.session.scalar(
                select(FrameworkItem)
                .where((FrameworkItem.uri == uri) | (FrameworkItem.identifier == key))
                .limit(1)
            )
        return known[key]

    return find


def cf_rubric(version: RubricVersion, find_item: ItemFinder) -> dict[str, Any]:
    changed = _timestamp(version.published_at or version.created_at)
    criteria = []
    for criterion in version.criteria:
        item = find_item(criterion.item_uri) if criterion.item_uri else None
        levels = [
            _compact(
                {
                    "identifier": level.identifier,
                    "uri": case_uri("CFRubricCriterionLevels", level.identifier),
                    "description": level.descriptor,
                    "quality": level.name,
                    "score": level.score,
                    "position": level.position,
                    "rubricCriterionId": criterion.identifier,
                    "lastChangeDateTime": changed,
                }
            )
            for level in criterion.levels
        ]
        criteria.append(
            _compact(
                {
                    "identifier": criterion.identifier,
                    "uri": case_uri("CFRubricCriteria", criterion.identifier),
                    "category": criterion.title,
                    "description": criterion.description,
                    "CFItemURI": item and _item_link(item),
                    "weight": criterion.weight,
                    "position": criterion.position,
                    "rubricId": version.identifier,
                    "lastChangeDateTime": changed,
                    "CFRubricCriterionLevels": levels,
                    "extensions": {
                        "criterionKey": criterion.key,
                        "evidenceParts": list(criterion.evidence_parts or []),
                    },
                }
            )
        )
    return _compact(
        {
            "identifier": version.identifier,
            "uri": case_uri("CFRubrics", version.identifier),
            "title": version.title,
            "description": version.description,
            "lastChangeDateTime": changed,
            "CFRubricCriteria": criteria,
            # CASE has no passing rule; without it the rubric cannot be published again.
            "extensions": {
                "passingRule": rubric_services.document_from_version(version)["passing_rule"]
            },
        }
    )


def _rubrics_judging(items: Sequence[FrameworkItem]) -> list[RubricVersion]:
    """The latest published version of each rubric with a criterion on one of ``items``."""
    keys = {uri_key(item_uri(item)) for item in items}
    rows = db.session.execute(
        select(RubricVersion.rubric_id, RubricCriterion.item_uri)
        .select_from(RubricCriterion)
        .join(RubricCriterion.version)
        .where(
            RubricVersion.status == VersionStatus.PUBLISHED, RubricCriterion.item_uri.is_not(None)
        )
    )
    rubric_ids = {rubric_id for rubric_id, uri in rows if uri_key(uri) in keys}
    versions = []
    for rubric in db.session.scalars(select(Rubric).where(Rubric.id.in_(rubric_ids))):
        latest = rubric_services.latest_version(rubric, published_only=True)
        if latest and any(c.item_uri and uri_key(c.item_uri) in keys for c in latest.criteria):
            versions.append(latest)
    return sorted(versions, key=lambda version: (version.title, version.identifier))


def export_package(framework: Framework) -> dict[str, Any]:
    items = _tree_order(framework)
    document = document_link(framework)
    associations = [
        _association(
            tree_association_identifier(item.identifier),
            "isChildOf",
            _item_link(item),
            _item_link(item.parent) if item.parent else document,
            item.position,
            item.last_change,
        )
        for item in items
    ]
    stored = sorted(
        framework.associations,
        key=lambda a: (a.association_type, a.origin.code, a.destination.code, a.identifier),
    )
    associations += [
        _association(
            a.identifier,
            a.association_type,
            _item_link(a.origin),
            _item_link(a.destination),
            a.sequence,
            a.last_change,
        )
        for a in stored
    ]
    find_item = item_finder(items)
    return {
        "CFDocument": cf_document(framework),
        "CFItems": [cf_item(item, document) for item in items],
        "CFAssociations": associations,
        "CFRubrics": [cf_rubric(version, find_item) for version in _rubrics_judging(items)],
    }
