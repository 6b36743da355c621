"""Writing a checked package: the framework, its items a tree level at a time,
its associations and its new rubrics, in bulk so that large packages stay fast."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, insert, select, update

from core import audit
from core.extensions import db
from credentials.case.plan import Node, Plan
from credentials.case.uris import foreign_uri
from credentials.case.validation import plan_import
from credentials.models import Framework, FrameworkItem, ItemAssociation
from rubrics import services as rubric_services
from rubrics.models import Rubric


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _unique(base: str, taken: set[str], max_length: int) -> str:
    candidate, number = base[:max_length], 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = base[: max_length - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _framework_code(plan: Plan) -> str:
    """The prefix the top-level items' codes share (UDL3.ENG, UDL3.REP → UDL3),
    else the title's slug; made unique."""
    top = [
        item.get("humanCodingScheme")
        for item in plan.items
        if plan.parent_of.get(item["identifier"]) is None
    ]
    prefixes = {_slug(code.split(".")[0]) for code in top if code}
    if top and all(top) and len(prefixes) == 1 and "" not in prefixes:
        base = prefixes.pop()
    else:
        base = _slug(plan.document["title"].lower()) or "framework"
    return _unique(base, set(db.session.scalars(select(Framework.code))), 40)


def _fill_framework(framework: Framework, document: dict[str, Any]) -> None:
    framework.uri = foreign_uri(document["uri"], "CFDocuments", document["identifier"])
    framework.title = document["title"]
    framework.creator = document["creator"]
    framework.publisher = document.get("publisher")
    framework.version = document.get("version")
    framework.description = document.get("description")
    framework.language = document.get("language")
    framework.adoption_status = document.get("adoptionStatus")
    framework.license_uri = (document.get("licenseURI") or {}).get("uri")
    framework.official_source_url = document.get("officialSourceURL")
    framework.subjects = document.get("subject", [])
    framework.last_change = document["lastChangeDateTime"]


def _write_items(plan: Plan, framework_id: int) -> tuple[dict[str, int], int, int]:
    """Insert or update the package's items a tree level at a time, so every
    parent has its id before its children are written. Unchanged rows are left alone."""
    ids = {identifier: row["id"] for identifier, row in plan.existing_rows.items()}
    # Park renamed items on their identifiers first, so that codes can move between
    # items (A.2 becomes A.3, a new A.2 arrives) without a moment of duplicates.
    renamed = [
        {"id": current["id"], "code": identifier}
        for item in plan.items
        if (current := plan.existing_rows.get(identifier := item["identifier"]))
        and current["code"] != (item.get("humanCodingScheme") or identifier)
    ]
    if renamed:
        db.session.execute(update(FrameworkItem), renamed)
    by_depth: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in plan.items:
        by_depth[plan.depth_of.get(item["identifier"], 0)].append(item)
    created = updated = 0
    for depth in sorted(by_depth):
        new_rows, changed_rows = [], []
        for item in by_depth[depth]:
            identifier = item["identifier"]
            parent = plan.parent_of.get(identifier)
            row = {
                "framework_id": framework_id,
                "identifier": identifier,
                "uri": foreign_uri(item["uri"], "CFItems", identifier),
                "code": item.get("humanCodingScheme") or identifier,
                "statement": item["fullStatement"],
                "abbreviated": item.get("abbreviatedStatement"),
                "item_type": item.get("CFItemType"),
                "education_levels": item.get("educationLevel", []),
                "notes": item.get("notes"),
                "language": item.get("language"),
                "position": plan.position_of[identifier],
                "parent_id": ids[parent] if parent else None,
                "last_change": item["lastChangeDateTime"],
            }
            current = plan.existing_rows.get(identifier)
            if current is None:
                new_rows.append(row)
            elif any(current[name] != value for name, value in row.items()):
                changed_rows.append({"id": current["id"], **row})
        if new_rows:
            db.session.execute(insert(FrameworkItem), new_rows)
            ids.update(
                db.session.execute(
                    select(FrameworkItem.identifier, FrameworkItem.id).where(
                        FrameworkItem.framework_id == framework_id
                    )
                ).all()
            )
        if changed_rows:
            db.session.execute(update(FrameworkItem), changed_rows)
        created, updated = created + len(new_rows), updated + len(changed_rows)
    return ids, created, updated


def _write_associations(plan: Plan, framework_id: int, ids: dict[str, int]) -> int:
    db.session.execute(delete(ItemAssociation).where(ItemAssociation.framework_id == framework_id))

    def node_id(node: Node) -> int:
        return node.id if isinstance(node, FrameworkItem) else ids[node]

    rows = [
        {
            "framework_id": framework_id,
            "identifier": association["identifier"],
            "association_type": association["associationType"],
            "origin_id": node_id(origin),
            "destination_id": node_id(destination),
            "sequence": association.get("sequenceNumber"),
            "last_change": association["lastChangeDateTime"],
        }
        for _path, association, origin, destination in plan.associations
    ]
    if rows:
        db.session.execute(insert(ItemAssociation), rows)
    return len(rows)


def _write_rubrics(plan: Plan, actor_id: int | None) -> list[str]:
    taken = set(db.session.scalars(select(Rubric.code)))
    codes = []
    for version in plan.new_versions:
        code = _unique(_slug(version.title.lower()) or "rubric", taken, 60)
        version.rubric = Rubric(code=code, title=version.title)
        db.session.add(version.rubric)
        db.session.flush()
        audit.record(
            "rubric.imported",
            "rubric_version",
            version.id,
            actor_id=actor_id,
            after={"code": code, "identifier": version.identifier},
        )
        rubric_services.publish(version, actor_id=actor_id)
        codes.append(code)
    return codes


def import_package(data: dict[str, Any], *, actor_id: int | None) -> Framework:
    """Create or update (by CFDocument identifier) a framework from a CFPackage.

    Nothing is written unless the whole package is sound: a malformed or partial
    package raises InvalidCasePackage listing every problem with its JSON path; a
    rubric that contradicts a published one raises ConflictError. Flushes only.
    """
    plan = plan_import(data)
    framework = plan.existing or Framework(
        identifier=plan.document["identifier"], code=_framework_code(plan)
    )
    _fill_framework(framework, plan.document)
    db.session.add(framework)
    db.session.flush()
    ids, created, updated = _write_items(plan, framework.id)
    association_count = _write_associations(plan, framework.id, ids)
    rubric_codes = _write_rubrics(plan, actor_id)
    db.session.expire(framework, ["items", "associations"])
    audit.record(
        "case.package_imported",
        "framework",
        framework.id,
        actor_id=actor_id,
        after={
            "identifier": framework.identifier,
            "code": framework.code,
            "new_framework": plan.existing is None,
            "items_created": created,
            "items_updated": updated,
            "associations": association_count,
            "rubrics_created": rubric_codes,
        },
    )
    return framework
