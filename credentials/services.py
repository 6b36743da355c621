"""Catalog operations: authoring, versioning, publishing, retiring, searching.

A micro-credential version is a draft until published; a published version never
changes (editing starts the next version) and pins the published rubric version
it is judged with. Submissions keep the version they started on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text

from core import audit
from core.db_types import utcnow
from core.diffing import DiffRow, diff_documents
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from credentials.models import (
    CredentialStatus,
    EvidencePart,
    Framework,
    FrameworkItem,
    ItemAssociation,
    MicroCredential,
    Stack,
    Theme,
)
from rubrics import services as rubric_services
from rubrics.models import Rubric

SEED_NAMESPACE = uuid.UUID("6f1c2b0e-3d7a-4f57-9a53-8c0f1e2d9b41")
CATALOG_FRAMEWORK = "MICROCRED"


def stable_identifier(*parts: str) -> str:
    """The same identifier on every installation for the same seeded thing."""
    return str(uuid.uuid5(SEED_NAMESPACE, ":".join(parts)))


# --- Frameworks -----------------------------------------------------------------


def get_framework(code: str) -> Framework:
    framework = db.session.scalar(select(Framework).where(Framework.code == code))
    if framework is None:
        raise NotFoundError(f"No framework {code}.")
    return framework


def list_frameworks() -> list[Framework]:
    return list(db.session.scalars(select(Framework).order_by(Framework.title)))


def get_item(framework: Framework, code: str) -> FrameworkItem:
    item = db.session.scalar(
        select(FrameworkItem).where(
            FrameworkItem.framework_id == framework.id, FrameworkItem.code == code
        )
    )
    if item is None:
        raise NotFoundError(f"{framework.code} has no item {code}.")
    return item


def item_children(framework: Framework) -> dict[int | None, list[FrameworkItem]]:
    """Items by parent id, for rendering the tree in one query."""
    tree: dict[int | None, list[FrameworkItem]] = {}
    for item in framework.items:
        tree.setdefault(item.parent_id, []).append(item)
    return tree


def create_framework(document: Mapping[str, Any], *, actor_id: int | None = None) -> Framework:
    """Create a framework from a validated document (seed format)."""
    code = document["code"]
    if db.session.scalar(select(Framework.id).where(Framework.code == code)) is not None:
        raise ConflictError(f"Framework {code} already exists.")
    framework = Framework(
        identifier=stable_identifier("framework", code),
        code=code,
        title=document["title"],
        creator=document["creator"],
        publisher=document.get("publisher"),
        version=document.get("version"),
        description=document.get("description"),
        language=document.get("language"),
        adoption_status="Public Draft" if code == CATALOG_FRAMEWORK else "Adopted",
        license_uri=document.get("license_uri"),
        official_source_url=document.get("official_source_url"),
    )
    db.session.add(framework)
    by_code: dict[str, FrameworkItem] = {}
    for position, entry in enumerate(document["items"], start=1):
        item = FrameworkItem(
            identifier=stable_identifier("item", code, entry["code"]),
            framework=framework,
            code=entry["code"],
            statement=entry["statement"],
            abbreviated=entry.get("abbreviated"),
            item_type=entry["type"],
            education_levels=list(entry.get("education_level") or []),
            language=document.get("language"),
            position=position,
            parent=by_code.get(entry["parent"]) if entry.get("parent") else None,
        )
        by_code[entry["code"]] = item
        db.session.add(item)
    db.session.flush()
    for entry in document.get("associations") or []:
        add_association(framework, entry["type"], entry["origin"], entry["destination"])
    audit.record(
        "framework.created",
        "framework",
        framework.id,
        actor_id=actor_id,
        after={"code": code, "items": len(by_code)},
    )
    return framework


def find_items_by_code(codes: list[str]) -> tuple[dict[str, FrameworkItem], list[str]]:
    """Items by human code across all frameworks; returns (found, missing)."""
    if not codes:
        return {}, []
    rows = db.session.scalars(select(FrameworkItem).where(FrameworkItem.code.in_(codes))).all()
    found = {item.code: item for item in rows}
    return found, [code for code in codes if code not in found]


def add_association(
    framework: Framework, kind: str, origin: str, destination: str
) -> ItemAssociation:
    found, missing = find_items_by_code([origin, destination])
    if missing:
        raise InvalidError(
            f"Association {origin} {kind} {destination}: unknown item(s) " + ", ".join(missing)
        )
    association = ItemAssociation(
        identifier=stable_identifier("association", kind, origin, destination),
        framework=framework,
        association_type=kind,
        origin=found[origin],
        destination=found[destination],
    )
    db.session.add(association)
    return association


# --- Micro-credentials: queries --------------------------------------------------


def _current_versions() -> Select[tuple[int]]:
    """Ids of the newest published version of every code that is not retired."""
    newest = (
        select(MicroCredential.code, func.max(MicroCredential.version).label("version"))
        .where(MicroCredential.status == CredentialStatus.PUBLISHED)
        .group_by(MicroCredential.code)
        .subquery()
    )
    return select(MicroCredential.id).join(
        newest,
        and_(MicroCredential.code == newest.c.code, MicroCredential.version == newest.c.version),
    )


def current_credential(code: str) -> MicroCredential:
    credential = db.session.scalar(
        select(MicroCredential).where(
            MicroCredential.id.in_(_current_versions()), MicroCredential.code == code
        )
    )
    if credential is None:
        raise NotFoundError(f"No published micro-credential {code}.")
    return credential


def get_version(code: str, version: int, *, include_drafts: bool = False) -> MicroCredential:
    credential = db.session.scalar(
        select(MicroCredential).where(
            MicroCredential.code == code, MicroCredential.version == version
        )
    )
    if credential is None or (credential.status == CredentialStatus.DRAFT and not include_drafts):
        raise NotFoundError(f"Micro-credential {code} has no version {version}.")
    return credential


def versions_of(code: str) -> list[MicroCredential]:
    versions = list(
        db.session.scalars(
            select(MicroCredential)
            .where(MicroCredential.code == code)
            .order_by(MicroCredential.version)
        )
    )
    if not versions:
        raise NotFoundError(f"No micro-credential {code}.")
    return versions


def authoring_overview() -> list[tuple[str, list[MicroCredential]]]:
    """Every code with all its versions, for the admin catalog page."""
    rows = db.session.scalars(
        select(MicroCredential).order_by(MicroCredential.code, MicroCredential.version)
    ).all()
    grouped: dict[str, list[MicroCredential]] = {}
    for row in rows:
        grouped.setdefault(row.code, []).append(row)
    return sorted(grouped.items())


_WORD = re.compile(r"\w+", re.UNICODE)


def _fts_term(term: str) -> str:
    """A code like ``UDL3.5.1`` becomes the phrase of its parts; a word matches
    as a prefix. Only word characters reach FTS5, so no query syntax leaks in."""
    words = _WORD.findall(term.lower())
    return f'"{" ".join(words)}"' if len(words) > 1 else f'"{words[0]}"*'


def _search_condition(query: str) -> Any:
    words = _WORD.findall(query.lower())
    if not words:
        return None
    code_match = or_(
        func.upper(MicroCredential.code) == query.strip().upper(),
        MicroCredential.id.in_(
            select(MicroCredential.id)
            .join(MicroCredential.alignments)
            .where(func.upper(FrameworkItem.code).startswith(query.strip().upper()))
        ),
    )
    if db.engine.dialect.name == "postgresql":
        text_match = func.to_tsvector("english", MicroCredential.search_text).op("@@")(
            func.plainto_tsquery("english", " ".join(words))
        )
    else:
        fts_query = " AND ".join(_fts_term(term) for term in query.split() if _WORD.search(term))
        text_match = MicroCredential.id.in_(
            select(text("rowid"))
            .select_from(text("credential_search"))
            .where(text("credential_search MATCH :fts"))
            .params(fts=fts_query)
        )
    return or_(code_match, text_match)


def search_catalog(
    q: str | None = None,
    theme: str | None = None,
    competency: str | None = None,
    grade_band: str | None = None,
    min_hours: float | None = None,
    max_hours: float | None = None,
) -> list[MicroCredential]:
    """The one catalog search: filters plus full text (FTS5 or PostgreSQL)."""
    statement = select(MicroCredential).where(MicroCredential.id.in_(_current_versions()))
    if theme:
        statement = statement.where(MicroCredential.theme == theme)
    if competency:
        statement = statement.where(
            MicroCredential.alignments.any(
                or_(
                    FrameworkItem.code == competency,
                    FrameworkItem.code.startswith(competency + "."),
                )
            )
        )
    if min_hours is not None:
        statement = statement.where(MicroCredential.pd_hours >= min_hours)
    if max_hours is not None:
        statement = statement.where(MicroCredential.pd_hours <= max_hours)
    if q:
        condition = _search_condition(q)
        if condition is not None:
            statement = statement.where(condition)
    results = list(db.session.scalars(statement.order_by(MicroCredential.code)))
    if grade_band:  # a JSON list: filtered here, the catalog is small
        results = [c for c in results if grade_band in (c.grade_bands or [])]
    return results


def list_stacks() -> list[Stack]:
    return list(db.session.scalars(select(Stack).order_by(Stack.code)))


def stacks_including(code: str) -> list[Stack]:
    return [s for s in list_stacks() if code in s.required or code in s.choose_from]


# --- Micro-credentials: documents --------------------------------------------------


def document_from_credential(credential: MicroCredential) -> dict[str, Any]:
    return {
        "code": credential.code,
        "title": credential.title,
        "theme": credential.theme,
        "version": credential.version_label,
        "summary": credential.summary,
        "competency": credential.competency,
        "alignments": [item.code for item in credential.alignments],
        "grade_bands": list(credential.grade_bands),
        "key_method": credential.key_method,
        "key_method_description": credential.key_method_description,
        "method_components": list(credential.method_components),
        "research": list(credential.research),
        "resources": list(credential.resources),
        "pd_hours": credential.pd_hours,
        "validity_months": credential.validity_months,
        "max_attempts": credential.max_attempts,
        "prerequisites": list(credential.prerequisites),
        "tags": list(credential.tags),
        "evidence_parts": [
            {
                "key": part.key,
                "section": part.section,
                "title": part.title,
                "prompt": part.prompt,
                "accepted": list(part.accepted),
                "min_words": part.min_words,
                "max_words": part.max_words,
                "min_count": part.min_count,
                "required": part.required,
                "privacy_guidance": part.privacy_guidance,
            }
            for part in credential.evidence_parts
        ],
        "rubric": rubric_services.document_from_version(credential.rubric_version),
    }


def _check_references(document: Mapping[str, Any]) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    _found, missing = find_items_by_code(list(document["alignments"]))
    if missing:
        problems["alignments"] = ["Unknown competency codes: " + ", ".join(missing) + "."]
    prerequisites = list(document["prerequisites"])
    if prerequisites:
        known = set(
            db.session.scalars(
                select(MicroCredential.code).where(MicroCredential.code.in_(prerequisites))
            )
        )
        unknown = [code for code in prerequisites if code not in known]
        if unknown:
            problems["prerequisites"] = ["Unknown micro-credentials: " + ", ".join(unknown) + "."]
    return problems


def _fill_credential(credential: MicroCredential, document: Mapping[str, Any]) -> None:
    found, _missing = find_items_by_code(list(document["alignments"]))
    credential.title = document["title"]
    credential.theme = document["theme"]
    credential.version_label = document.get("version") or f"{credential.version}.0.0"
    credential.summary = document["summary"]
    credential.competency = document["competency"].strip()
    credential.key_method = document["key_method"]
    credential.key_method_description = document.get("key_method_description")
    credential.method_components = list(document["method_components"])
    credential.research = [dict(entry) for entry in document["research"]]
    credential.resources = [dict(entry) for entry in document.get("resources") or []]
    credential.grade_bands = list(document.get("grade_bands") or [])
    credential.tags = list(document.get("tags") or [])
    credential.pd_hours = document["pd_hours"]
    credential.validity_months = document.get("validity_months")
    credential.max_attempts = document.get("max_attempts", 3)
    credential.prerequisites = list(document.get("prerequisites") or [])
    credential.alignments = [found[code] for code in document["alignments"]]
    # Remove the old rows first: the unit of work inserts before it deletes,
    # which would trip the unique (credential, key) constraint.
    credential.evidence_parts.clear()
    if credential.id is not None:
        db.session.flush()
    credential.evidence_parts = [
        EvidencePart(position=position, **dict(part))
        for position, part in enumerate(document["evidence_parts"], start=1)
    ]


def create_draft(document: Mapping[str, Any], *, actor_id: int | None = None) -> MicroCredential:
    """Version 1 of a new micro-credential, as a draft with its draft rubric."""
    code = document["code"]
    if db.session.scalar(select(MicroCredential.id).where(MicroCredential.code == code)):
        raise ConflictError(
            f"Micro-credential {code} already exists; start a new version of it instead."
        )
    problems = _check_references(document)
    if problems:
        raise InvalidError("Some references are not known.", problems)
    rubric = db.session.scalar(select(Rubric).where(Rubric.code == code))
    if rubric is None:
        rubric_version = rubric_services.create_rubric(code, document["rubric"], actor_id=actor_id)
    else:
        rubric_version = rubric_services.update_draft(
            rubric_services.new_draft(rubric, actor_id=actor_id),
            document["rubric"],
            actor_id=actor_id,
        )
    credential = MicroCredential(
        code=code, version=1, status=CredentialStatus.DRAFT, rubric_version=rubric_version
    )
    _fill_credential(credential, document)
    db.session.add(credential)
    db.session.flush()
    audit.record(
        "micro_credential.created",
        "micro_credential",
        credential.id,
        actor_id=actor_id,
        after={"code": code, "version": 1},
    )
    return credential


def update_draft(
    credential: MicroCredential, document: Mapping[str, Any], *, actor_id: int | None = None
) -> MicroCredential:
    if credential.status != CredentialStatus.DRAFT:
        raise ConflictError(
            f"{credential.code} version {credential.version} is {credential.status} and cannot "
            "change. Start a new version to edit it."
        )
    if document["code"] != credential.code:
        raise InvalidError(
            "The code of a micro-credential cannot change.", {"code": [f"Keep {credential.code}."]}
        )
    problems = _check_references(document)
    if problems:
        raise InvalidError("Some references are not known.", problems)
    if credential.rubric_version.is_published:
        credential.rubric_version = rubric_services.new_draft(
            credential.rubric_version.rubric, actor_id=actor_id
        )
    rubric_services.update_draft(credential.rubric_version, document["rubric"], actor_id=actor_id)
    _fill_credential(credential, document)
    db.session.flush()
    audit.record(
        "micro_credential.draft_updated", "micro_credential", credential.id, actor_id=actor_id
    )
    return credential


def _search_text(credential: MicroCredential) -> str:
    parts = [
        credential.code,
        credential.title,
        credential.summary,
        credential.competency,
        credential.key_method,
        credential.key_method_description or "",
        Theme(credential.theme).label,
        " ".join(credential.tags),
        " ".join(credential.method_components),
    ]
    for item in credential.alignments:
        parts += [item.code, item.statement]
    return "\n".join(parts)


def _index_for_search(credential: MicroCredential) -> None:
    credential.search_text = _search_text(credential)
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            text("DELETE FROM credential_search WHERE rowid = :id"), {"id": credential.id}
        )
        db.session.execute(
            text("INSERT INTO credential_search(rowid, search_text) VALUES (:id, :body)"),
            {"id": credential.id, "body": credential.search_text},
        )


def _catalog_item(credential: MicroCredential) -> FrameworkItem:
    """The competency's CFItem in the catalog framework (made on first publish)."""
    framework = ensure_catalog_framework()
    code = credential.code
    item = db.session.scalar(
        select(FrameworkItem).where(
            FrameworkItem.framework_id == framework.id, FrameworkItem.code == code
        )
    )
    theme_item = get_item(framework, f"MC.{credential.theme.upper()}")
    if item is None:
        item = FrameworkItem(
            identifier=stable_identifier("item", CATALOG_FRAMEWORK, code),
            framework=framework,
            code=code,
            item_type="Competency",
            parent=theme_item,
            position=len(framework.items) + 1,
            statement=credential.competency,
        )
        db.session.add(item)
    item.statement = credential.competency
    item.abbreviated = credential.title
    item.education_levels = _education_levels(credential.grade_bands)
    db.session.flush()
    existing = {(a.destination_id) for a in framework.associations if a.origin_id == item.id}
    for aligned in credential.alignments:
        if aligned.id not in existing:
            db.session.add(
                ItemAssociation(
                    identifier=stable_identifier("association", "isRelatedTo", code, aligned.code),
                    framework=framework,
                    association_type="isRelatedTo",
                    origin=item,
                    destination=aligned,
                )
            )
    return item


_BAND_LEVELS = {
    "K-2": ["KG", "01", "02"],
    "3-5": ["03", "04", "05"],
    "6-8": ["06", "07", "08"],
    "9-12": ["09", "10", "11", "12"],
}


def _education_levels(bands: list[str]) -> list[str]:
    return [level for band in bands for level in _BAND_LEVELS.get(band, [])]


def ensure_catalog_framework() -> Framework:
    """Our own CASE framework: one competency per micro-credential, grouped by theme."""
    framework = db.session.scalar(select(Framework).where(Framework.code == CATALOG_FRAMEWORK))
    if framework is not None:
        return framework
    return create_framework(
        {
            "code": CATALOG_FRAMEWORK,
            "title": "Educator micro-credential competencies",
            "creator": "Microcred catalog team",
            "publisher": "Microcred",
            "version": "1.0",
            "language": "en",
            "license_uri": "https://creativecommons.org/licenses/by/4.0/",
            "description": "The competencies certified by this service's micro-credentials, related "
            "to the frameworks they align to.",
            "items": [
                {
                    "code": f"MC.{theme.value.upper()}",
                    "type": "Strand",
                    "statement": theme.label,
                    "parent": None,
                    "abbreviated": theme.label,
                    "education_level": [],
                }
                for theme in Theme
            ],
            "associations": [],
        }
    )


def publish(credential: MicroCredential, *, actor_id: int | None = None) -> MicroCredential:
    if credential.status != CredentialStatus.DRAFT:
        raise ConflictError(f"{credential.code} version {credential.version} is not a draft.")
    problems = _check_references(document_from_credential(credential))
    rubric_version = credential.rubric_version
    rubric_problems = (
        [] if rubric_version.is_published else rubric_services.publish_problems(rubric_version)
    )
    if rubric_problems:
        problems["rubric"] = rubric_problems
    if problems:
        raise InvalidError("This micro-credential cannot be published yet.", problems)
    if not rubric_version.is_published:
        previous = rubric_services.latest_version(rubric_version.rubric, published_only=True)
        if previous is not None and rubric_services.document_from_version(
            previous
        ) == rubric_services.document_from_version(rubric_version):
            # Same rubric as before: pin the published version, drop the copy.
            credential.rubric_version = previous
            db.session.delete(rubric_version)
        else:
            rubric_services.publish(rubric_version, actor_id=actor_id)
    credential.status = CredentialStatus.PUBLISHED
    credential.published_at = utcnow()
    credential.competency_item = _catalog_item(credential)
    db.session.flush()
    _index_for_search(credential)
    audit.record(
        "micro_credential.published",
        "micro_credential",
        credential.id,
        actor_id=actor_id,
        after={
            "code": credential.code,
            "version": credential.version,
            "rubric_version": credential.rubric_version.number,
        },
    )
    return credential


def new_version(code: str, *, actor_id: int | None = None) -> MicroCredential:
    """A draft of the next version, copied from the latest (or the open draft)."""
    versions = versions_of(code)
    latest = versions[-1]
    if latest.status == CredentialStatus.DRAFT:
        return latest
    draft = MicroCredential(
        code=code,
        version=latest.version + 1,
        status=CredentialStatus.DRAFT,
        rubric_version=latest.rubric_version,
    )
    document = document_from_credential(latest)
    _fill_credential(draft, document)
    draft.version_label = f"{latest.version + 1}.0.0"
    draft.competency_item = latest.competency_item
    db.session.add(draft)
    db.session.flush()
    audit.record(
        "micro_credential.version_created",
        "micro_credential",
        draft.id,
        actor_id=actor_id,
        after={"code": code, "version": draft.version},
    )
    return draft


def retire(code: str, *, actor_id: int | None = None) -> list[MicroCredential]:
    """No new submissions; earned badges stay valid."""
    retired = []
    for credential in versions_of(code):
        if credential.status == CredentialStatus.PUBLISHED:
            credential.status = CredentialStatus.RETIRED
            credential.retired_at = utcnow()
            retired.append(credential)
            if db.engine.dialect.name == "sqlite":
                db.session.execute(
                    text("DELETE FROM credential_search WHERE rowid = :id"), {"id": credential.id}
                )
    if not retired:
        raise ConflictError(f"{code} has no published version to retire.")
    audit.record(
        "micro_credential.retired",
        "micro_credential",
        retired[-1].id,
        actor_id=actor_id,
        after={"code": code},
    )
    return retired


def diff_versions(code: str, before: int, after: int) -> list[DiffRow]:
    return diff_documents(
        document_from_credential(get_version(code, before, include_drafts=True)),
        document_from_credential(get_version(code, after, include_drafts=True)),
    )


# --- Stacks ---------------------------------------------------------------------


def create_stack(document: Mapping[str, Any], *, actor_id: int | None = None) -> Stack:
    if db.session.scalar(select(Stack.id).where(Stack.code == document["code"])):
        raise ConflictError(f"Stack {document['code']} already exists.")
    choose = document.get("choose") or {}
    members = list(document["required"]) + list(choose.get("from", []))
    known = set(
        db.session.scalars(select(MicroCredential.code).where(MicroCredential.code.in_(members)))
    )
    unknown = [code for code in members if code not in known]
    if unknown:
        raise InvalidError("Unknown micro-credentials in the stack: " + ", ".join(unknown) + ".")
    stack = Stack(
        code=document["code"],
        title=document["title"],
        theme=document["theme"],
        summary=document["summary"],
        competency=document["competency"].strip(),
        required=list(document["required"]),
        choose_count=int(choose.get("count", 0)),
        choose_from=list(choose.get("from", [])),
        pd_hours_rule=document["pd_hours_rule"],
    )
    db.session.add(stack)
    db.session.flush()
    audit.record("stack.created", "stack", stack.id, actor_id=actor_id, after={"code": stack.code})
    return stack


def stack_hours(stack: Stack) -> float:
    """Hours of the smallest set that earns the stack (members' hours; no extra)."""
    hours = {c.code: c.pd_hours for c in search_catalog()}
    required = sum(hours.get(code, 0.0) for code in stack.required)
    optional = sorted(hours.get(code, 0.0) for code in stack.choose_from)
    return required + sum(optional[: stack.choose_count])
