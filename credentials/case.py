"""CASE 1.1 (1EdTech Competencies and Academic Standards Exchange) packages.

``export_package`` writes a framework with its items, associations and the
published rubrics that judge its items as a CFPackage; ``import_package`` reads
one back. An import checks the whole package before writing anything and writes
in bulk, so a package of tens of thousands of items stays fast and small.

Our tree link (``FrameworkItem.parent``) is CASE's isChildOf association; it has
no row of its own, so its identifier is derived from the child's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_request_context, request
from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import delete, func, insert, select, update

from core import audit
from core.diffing import diff_documents
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from credentials.authoring import error_paths
from credentials.models import Framework, FrameworkItem, ItemAssociation
from credentials.services import item_children, list_frameworks, stable_identifier
from rubrics import services as rubric_services
from rubrics.models import CriterionLevel, Rubric, RubricCriterion, RubricVersion, VersionStatus
from rubrics.schemas import KEY, PassingRuleSchema

CASE_PATH = "/ims/case/v1p1"
IN_CHUNK = 500  # identifiers per IN (...) query; far below every database's limit
ASSOCIATION_TYPES = (
    "isChildOf", "isPeerOf", "isPartOf", "exactMatchOf", "precedes", "isRelatedTo",
    "replacedBy", "exemplar", "hasSkillLevel", "isTranslationOf",
)  # fmt: skip
ITEM_COLUMNS = (
    "framework_id", "identifier", "uri", "code", "statement", "abbreviated", "item_type",
    "education_levels", "notes", "language", "position", "parent_id", "last_change",
)  # fmt: skip
_CASE_URI = re.compile(r"/ims/case/v1p1/CF\w+/([0-9A-Fa-f-]{36})$")

Problem = dict[str, str]
ItemFinder = Callable[[str], FrameworkItem | None]


class InvalidCasePackage(InvalidError):
    """A malformed or partial package: every problem with its JSON path."""

    status, code = 400, "invalid_case_package"

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> InvalidCasePackage:
        return cls(
            f"The CASE package has {len(problems)} problem(s); nothing was imported.",
            {"problems": problems},
        )


# --- URIs -------------------------------------------------------------------


def public_base_url() -> str:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://localhost"


def case_uri(kind: str, identifier: str) -> str:
    """Our resolvable URI, e.g. ``case_uri("CFItems", identifier)``."""
    return f"{public_base_url()}{CASE_PATH}/{kind}/{identifier}"


def document_uri(framework: Framework) -> str:
    return framework.uri or case_uri("CFDocuments", framework.identifier)


def item_uri(item: FrameworkItem) -> str:
    return item.uri or case_uri("CFItems", item.identifier)


def _foreign_uri(uri: str, kind: str, identifier: str) -> str | None:
    """The URI to store on import: none when it is the one we would give anyway."""
    return None if uri == case_uri(kind, identifier) else uri


def _uri_key(uri: str) -> str:
    """CASE REST URIs end with the object's identifier: match those by it, so a
    URI recorded under another host name (or before a move) still matches."""
    match = _CASE_URI.search(uri)
    return match.group(1) if match else uri


# --- Export -----------------------------------------------------------------


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
    known: dict[str, FrameworkItem | None] = {_uri_key(item_uri(item)): item for item in items}

    def find(uri: str) -> FrameworkItem | None:
        key = _uri_key(uri)
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
    keys = {_uri_key(item_uri(item)) for item in items}
    rows = db.session.execute(
        select(RubricVersion.rubric_id, RubricCriterion.item_uri)
        .select_from(RubricCriterion)
        .join(RubricCriterion.version)
        .where(
            RubricVersion.status == VersionStatus.PUBLISHED, RubricCriterion.item_uri.is_not(None)
        )
    )
    rubric_ids = {rubric_id for rubric_id, uri in rows if _uri_key(uri) in keys}
    versions = []
    for rubric in db.session.scalars(select(Rubric).where(Rubric.id.in_(rubric_ids))):
        latest = rubric_services.latest_version(rubric, published_only=True)
        if latest and any(c.item_uri and _uri_key(c.item_uri) in keys for c in latest.criteria):
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


# --- Queries ----------------------------------------------------------------


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


# --- Import: the package's shape --------------------------------------------

UUID_FORMAT = validate.Regexp(
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
    error="Not a UUID (8-4-4-4-12 hexadecimal digits).",
)
URI_FORMAT = validate.Regexp(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", error="Not an absolute URI.")


def _identifier(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=UUID_FORMAT)


def _uri(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=[URI_FORMAT, validate.Length(max=500)])


def _text(max_length: int | None = None, *, required: bool = False) -> fields.String:
    minimum = 1 if required else 0
    return fields.String(required=required, validate=validate.Length(min=minimum, max=max_length))


def _association_type(value: str) -> None:
    if value not in ASSOCIATION_TYPES and not re.fullmatch(r"ext:[A-Za-z0-9.\-_]{1,36}", value):
        raise ValidationError(
            "Use a CASE association type (" + ", ".join(ASSOCIATION_TYPES) + ") or ext:<name>."
        )


class JsonNumber(fields.Float):
    """A JSON number: the text "3" is not a score."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class LinkURISchema(Schema):
    class Meta:
        unknown = RAISE

    title = fields.String(required=True)
    identifier = _identifier()
    uri = _uri()


class NodeLinkSchema(LinkURISchema):
    """LinkGenURI: the node may live outside CASE, so any identifier will do."""

    identifier = fields.String(required=True, validate=validate.Length(min=1))
    targetType = fields.String(validate=validate.Regexp(r"^(CASE|ext:[A-Za-z0-9.\-_]+)$"))


class CaseObjectSchema(Schema):
    """What every CASE object has. Unknown fields are refused: CASE 1.1 puts
    anything extra under ``extensions``."""

    class Meta:
        unknown = RAISE

    identifier = _identifier()
    uri = _uri()
    lastChangeDateTime = fields.AwareDateTime(required=True, default_timezone=UTC)
    extensions = fields.Dict(keys=fields.String())


class DocumentSchema(CaseObjectSchema):
    frameworkType = fields.String()
    caseVersion = fields.String(validate=validate.Equal("1.1"))
    creator = _text(300, required=True)
    title = _text(300, required=True)
    officialSourceURL = _uri(required=False)
    publisher = _text(300)
    description = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = _text(10)
    version = _text(40)
    adoptionStatus = _text(40)
    statusStartDate = fields.Date()
    statusEndDate = fields.Date()
    licenseURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    CFPackageURI = fields.Nested(LinkURISchema)  # sent by CASE tools on a package's document too


class ItemSchema(CaseObjectSchema):
    fullStatement = _text(required=True)
    alternativeLabel = fields.String()
    CFItemType = _text(60)
    humanCodingScheme = _text(80)
    listEnumeration = fields.String()
    abbreviatedStatement = _text(300)
    conceptKeywords = fields.List(fields.String())
    conceptKeywordsURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = _text(10)
    educationLevel = fields.List(fields.String())
    CFItemTypeURI = fields.Nested(LinkURISchema)
    licenseURI = fields.Nested(LinkURISchema)
    statusStartDate = fields.Date()
    statusEndDate = fields.Date()
    # Not in the 1.1 package schema, but most CASE tools (and our export) send it.
    CFDocumentURI = fields.Nested(LinkURISchema)


class AssociationSchema(CaseObjectSchema):
    associationType = fields.String(required=True, validate=_association_type)
    sequenceNumber = fields.Integer(strict=True)
    originNodeURI = fields.Nested(NodeLinkSchema, required=True)
    destinationNodeURI = fields.Nested(NodeLinkSchema, required=True)
    CFAssociationGroupingURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    CFDocumentURI = fields.Nested(LinkURISchema)  # as for items


class DefinitionSchema(CaseObjectSchema):
    title = fields.String(required=True)
    description = fields.String()


class ConceptSchema(DefinitionSchema):
    keywords = fields.String()
    hierarchyCode = fields.String(required=True)


class SubjectSchema(DefinitionSchema):
    hierarchyCode = fields.String(required=True)


class LicenseSchema(DefinitionSchema):
    licenseText = fields.String(required=True)


class ItemTypeSchema(DefinitionSchema):
    description = fields.String(required=True)
    hierarchyCode = fields.String(required=True)
    typeCode = fields.String()


class DefinitionsSchema(Schema):
    """Accepted and checked, not kept: we store item types and licenses as text."""

    class Meta:
        unknown = RAISE

    CFConcepts = fields.List(fields.Nested(ConceptSchema))
    CFSubjects = fields.List(fields.Nested(SubjectSchema))
    CFLicenses = fields.List(fields.Nested(LicenseSchema))
    CFItemTypes = fields.List(fields.Nested(ItemTypeSchema))
    CFAssociationGroupings = fields.List(fields.Nested(DefinitionSchema))
    extensions = fields.Dict(keys=fields.String())


class LevelSchema(CaseObjectSchema):
    # Optional in CASE, needed by our rubrics: a level is named, scored and described.
    quality = _text(60, required=True)
    score = JsonNumber(required=True, allow_nan=False)
    description = _text(required=True)
    position = fields.Integer(required=True, strict=True)
    feedback = fields.String()
    rubricCriterionId = _identifier(required=False)
    extensions = fields.List(fields.Dict(keys=fields.String()))  # a list here, per the 1.1 schema


class CriterionExtensionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    criterionKey = fields.String(validate=KEY)
    evidenceParts = fields.List(fields.String(validate=KEY))


class CriterionSchema(CaseObjectSchema):
    category = _text(200, required=True)
    description = fields.String()
    CFItemURI = fields.Nested(LinkURISchema)
    weight = JsonNumber(allow_nan=False)
    position = fields.Integer(strict=True)
    rubricId = _identifier(required=False)
    CFRubricCriterionLevels = fields.List(fields.Nested(LevelSchema), load_default=list)
    extensions = fields.Nested(CriterionExtensionsSchema)


class RubricExtensionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    passingRule = fields.Nested(PassingRuleSchema)


class RubricSchema(CaseObjectSchema):
    title = _text(200, required=True)
    description = fields.String()
    CFRubricCriteria = fields.List(fields.Nested(CriterionSchema), load_default=list)
    extensions = fields.Nested(RubricExtensionsSchema)


class PackageSchema(Schema):
    class Meta:
        unknown = RAISE

    CFDocument = fields.Nested(DocumentSchema, required=True)
    CFItems = fields.List(fields.Nested(ItemSchema), load_default=list)
    CFAssociations = fields.List(fields.Nested(AssociationSchema), load_default=list)
    CFDefinitions = fields.Nested(DefinitionsSchema)
    CFRubrics = fields.List(fields.Nested(RubricSchema), load_default=list)
    extensions = fields.Dict(keys=fields.String())


# --- Import: checks ---------------------------------------------------------


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


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


# A reference to a node: the identifier of the document or of a package item,
# or an item already stored here.
Node = str | FrameworkItem


@dataclass
class _Plan:
    """Everything the writes need, worked out (and checked) before the first one."""

    document: dict[str, Any]
    items: list[dict[str, Any]]
    existing: Framework | None = None
    existing_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_of: dict[str, str | None] = field(default_factory=dict)
    position_of: dict[str, int] = field(default_factory=dict)
    depth_of: dict[str, int] = field(default_factory=dict)
    # (JSON path, CFAssociation, origin, destination) of the associations kept as rows
    associations: list[tuple[str, dict[str, Any], Node, Node]] = field(default_factory=list)
    new_versions: list[RubricVersion] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append({"path": path, "message": message})


def _stored_items(links: list[dict[str, Any]]) -> dict[str, FrameworkItem]:
    """Items already stored that ``links`` may mean, keyed by identifier and URI."""
    keys = sorted({key for link in links for key in (link["identifier"], _uri_key(link["uri"]))})
    uris = sorted({link["uri"] for link in links})
    found: dict[str, FrameworkItem] = {}
    for chunk in _chunks(keys):
        for item in db.session.scalars(
            select(FrameworkItem).where(FrameworkItem.identifier.in_(chunk))
        ):
            found[item.identifier] = item
    for chunk in _chunks(uris):
        for item in db.session.scalars(select(FrameworkItem).where(FrameworkItem.uri.in_(chunk))):
            found[_uri_key(item.uri or "")] = item
    return found


class _Resolver:
    """Turns LinkURIs into nodes: the package first, then items stored here."""

    def __init__(self, plan: _Plan, links: list[dict[str, Any]]) -> None:
        self.plan = plan
        self.package: dict[str, str] = {}
        for node in (plan.document, *plan.items):
            if "identifier" in node:
                self.package[node["identifier"]] = node["identifier"]
                if "uri" in node:
                    self.package.setdefault(_uri_key(node["uri"]), node["identifier"])
        complete = [link for link in links if {"identifier", "uri"} <= link.keys()]
        self.stored = _stored_items([link for link in complete if self._in_package(link) is None])

    def _in_package(self, link: dict[str, Any]) -> str | None:
        return self.package.get(link["identifier"]) or self.package.get(_uri_key(link["uri"]))

    def __call__(self, link: dict[str, Any] | None, path: str) -> Node | None:
        if not link or not {"identifier", "uri"} <= link.keys():
            return None  # already reported by the schema
        node = self._in_package(link) or self.stored.get(link["identifier"])
        node = node or self.stored.get(_uri_key(link["uri"]))
        if node is None:
            self.plan.problem(
                path,
                f"Points at {link['uri']} ({link['identifier']}), which is neither in this "
                "package nor stored here.",
            )
        return node


def _check_identifiers(
    plan: _Plan, associations: list[dict[str, Any]], rubrics: list[dict[str, Any]]
) -> None:
    """No identifier twice in one package."""
    seen: dict[str, str] = {}

    def claim(record: dict[str, Any], path: str) -> None:
        identifier = record.get("identifier")
        if identifier is None:
            return
        first = seen.setdefault(identifier.lower(), path)
        if first != path:
            plan.problem(
                f"{path}.identifier", f"{identifier} is already the identifier of {first}."
            )

    claim(plan.document, "$.CFDocument")
    for index, item in enumerate(plan.items):
        claim(item, f"$.CFItems[{index}]")
    for index, association in enumerate(associations):
        claim(association, f"$.CFAssociations[{index}]")
    for r, rubric in enumerate(rubrics):
        claim(rubric, f"$.CFRubrics[{r}]")
        for c, criterion in enumerate(rubric.get("CFRubricCriteria", [])):
            claim(criterion, f"$.CFRubrics[{r}].CFRubricCriteria[{c}]")
            for lv, level in enumerate(criterion.get("CFRubricCriterionLevels", [])):
                claim(
                    level, f"$.CFRubrics[{r}].CFRubricCriteria[{c}].CFRubricCriterionLevels[{lv}]"
                )


def _place_items(plan: _Plan, associations: list[dict[str, Any]], resolve: _Resolver) -> None:
    """The tree from the isChildOf associations; every other association is kept as a row.

    An item's first isChildOf to the document or to another item of the package
    places it in the tree (sequenceNumber is its position); the rest are rows.
    """
    document_id = plan.document.get("identifier")
    for index, association in enumerate(associations):
        path = f"$.CFAssociations[{index}]"
        origin = resolve(association.get("originNodeURI"), f"{path}.originNodeURI")
        destination = resolve(association.get("destinationNodeURI"), f"{path}.destinationNodeURI")
        kind = association.get("associationType")
        if origin is None or destination is None or kind is None:
            continue
        if (
            kind == "isChildOf"
            and isinstance(origin, str)
            and isinstance(destination, str)
            and origin != document_id
            and origin not in plan.parent_of
        ):
            plan.parent_of[origin] = None if destination == document_id else destination
            if "sequenceNumber" in association:
                plan.position_of[origin] = association["sequenceNumber"]
        elif document_id in (origin, destination):
            plan.problem(
                path,
                "Only an item's first isChildOf association may point at the document; "
                "associations to or from the document itself are not kept.",
            )
        else:
            plan.associations.append((path, association, origin, destination))

    for index, item in enumerate(plan.items):
        if "identifier" in item:
            plan.position_of.setdefault(item["identifier"], index + 1)
    cyclic = _depths(plan.parent_of, plan.depth_of)
    for index, item in enumerate(plan.items):
        if item.get("identifier") in cyclic:
            plan.problem(
                f"$.CFItems[{index}]", "This item sits in a loop of isChildOf associations."
            )


def _depths(parent_of: dict[str, str | None], depth_of: dict[str, int]) -> set[str]:
    """Fill ``depth_of`` (top-level items are 0); return the items caught in loops."""
    cyclic: set[str] = set()
    for start in parent_of:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and not (node in depth_of or node in cyclic or node in on_path):
            path.append(node)
            on_path.add(node)
            node = parent_of.get(node)
        if node is not None and (node in cyclic or node in on_path):
            cyclic.update(path)
            continue
        base = -1 if node is None else depth_of[node]
        for offset, member in enumerate(reversed(path), start=1):
            depth_of[member] = base + offset
    return cyclic


def _check_against_database(plan: _Plan) -> None:
    """Identifiers must not belong to another framework; codes must stay unique."""
    plan.existing = db.session.scalar(
        select(Framework).where(Framework.identifier == plan.document.get("identifier"))
    )
    other = Framework.id != (plan.existing.id if plan.existing else None)
    if plan.existing:
        columns = [getattr(FrameworkItem, name) for name in ("id", *ITEM_COLUMNS)]
        rows = db.session.execute(
            select(*columns).where(FrameworkItem.framework_id == plan.existing.id)
        ).mappings()
        plan.existing_rows = {row["identifier"]: dict(row) for row in rows}

    def taken(model: Any, records: list[tuple[str, str]], what: str) -> None:
        paths = dict(records)
        for chunk in _chunks(sorted(paths)):
            for identifier, code in db.session.execute(
                select(model.identifier, Framework.code)
                .join(Framework, model.framework_id == Framework.id)
                .where(model.identifier.in_(chunk), other)
            ):
                plan.problem(f"{paths[identifier]}.identifier", f"{identifier} is {what} {code}.")

    items = [
        (i["identifier"], f"$.CFItems[{n}]") for n, i in enumerate(plan.items) if "identifier" in i
    ]
    taken(FrameworkItem, items, "already an item of framework")
    links = [(a["identifier"], path) for path, a, _o, _d in plan.associations if "identifier" in a]
    taken(ItemAssociation, links, "already an association of framework")

    in_package = {identifier for identifier, _path in items}
    codes = {row["code"]: row["identifier"] for row in plan.existing_rows.values()}
    codes = {
        code: f"stored item {ident}" for code, ident in codes.items() if ident not in in_package
    }
    for index, item in enumerate(plan.items):
        if "identifier" in item:
            code = item.get("humanCodingScheme") or item["identifier"]
            first = codes.setdefault(code, f"$.CFItems[{index}]")
            if first != f"$.CFItems[{index}]":
                plan.problem(
                    f"$.CFItems[{index}].humanCodingScheme",
                    f"{code} is already the code of {first}; codes are unique in a framework.",
                )


def _rubric_version(
    rubric: dict[str, Any], path: str, plan: _Plan, resolve: _Resolver
) -> RubricVersion | None:
    """An unsaved version built from a CFRubric, or None when it is incomplete."""
    criteria = rubric.get("CFRubricCriteria", [])
    complete = {"identifier", "title", "CFRubricCriteria"} <= rubric.keys() and all(
        {"identifier", "category", "CFRubricCriterionLevels"} <= criterion.keys()
        and all(
            {"identifier", "quality", "score", "description", "position"} <= level.keys()
            for level in criterion["CFRubricCriterionLevels"]
        )
        for criterion in criteria
    )
    if not complete:
        return None  # the schema has said what is missing
    uris = {item["identifier"]: item.get("uri") for item in plan.items if "identifier" in item}
    built = []
    ordered = sorted(
        enumerate(criteria), key=lambda pair: (pair[1].get("position", pair[0] + 1), pair[0])
    )
    for number, (index, criterion) in enumerate(ordered, start=1):
        here = f"{path}.CFRubricCriteria[{index}]"
        item_uri_text = None
        if "CFItemURI" in criterion:
            node = resolve(criterion["CFItemURI"], f"{here}.CFItemURI")
            if node == plan.document.get("identifier"):
                plan.problem(f"{here}.CFItemURI", "A criterion judges an item, not the document.")
            elif isinstance(node, FrameworkItem):
                item_uri_text = item_uri(node)
            elif node is not None:
                item_uri_text = uris[node]
        levels = sorted(criterion["CFRubricCriterionLevels"], key=lambda level: level["position"])
        positions = [level["position"] for level in levels]
        if len(set(positions)) != len(positions):
            plan.problem(f"{here}.CFRubricCriterionLevels", "Two levels share a position.")
        names = [level["quality"] for level in levels]
        if len(set(names)) != len(names):
            plan.problem(f"{here}.CFRubricCriterionLevels", "Two levels share a quality.")
        extensions = criterion.get("extensions", {})
        built.append(
            RubricCriterion(
                identifier=criterion["identifier"],
                position=criterion.get("position", number),
                key=extensions.get("criterionKey", f"C{number}"),
                title=criterion["category"],
                description=criterion.get("description"),
                weight=criterion.get("weight", 1.0),
                evidence_parts=extensions.get("evidenceParts", []),
                item_uri=item_uri_text,
                levels=[
                    CriterionLevel(
                        identifier=level["identifier"],
                        position=level["position"],
                        name=level["quality"],
                        score=level["score"],
                        descriptor=level["description"],
                    )
                    for level in levels
                ],
            )
        )
    keys = [criterion.key for criterion in built]
    if len(set(keys)) != len(keys):
        plan.problem(f"{path}.CFRubricCriteria", "Two criteria share a criterionKey.")
    scale = [(level.name, level.score) for level in built[0].levels] if built else []
    if any([(level.name, level.score) for level in c.levels] != scale for c in built):
        plan.problem(
            f"{path}.CFRubricCriteria",
            "Every criterion must use the same levels (quality and score, in order).",
        )
    rule = rubric.get("extensions", {}).get("passingRule") or {}
    return RubricVersion(
        identifier=rubric["identifier"],
        number=1,
        status=VersionStatus.DRAFT,
        title=rubric["title"],
        description=rubric.get("description"),
        passing_rule_kind=rule.get("kind"),
        passing_level=rule.get("level"),
        passing_threshold=rule.get("threshold"),
        criteria=built,
    )


def _comparable(version: RubricVersion) -> dict[str, Any]:
    document = rubric_services.document_from_version(version)
    for criterion, entry in zip(version.criteria, document["criteria"], strict=True):
        entry["item"] = criterion.item_uri and _uri_key(criterion.item_uri)
    return document


def _plan_rubrics(plan: _Plan, rubrics: list[dict[str, Any]], resolve: _Resolver) -> None:
    """New rubrics must be publishable; known ones must not have changed."""
    identifiers = [rubric["identifier"] for rubric in rubrics if "identifier" in rubric]
    stored = {
        version.identifier: version
        for version in db.session.scalars(
            select(RubricVersion).where(RubricVersion.identifier.in_(identifiers))
        )
    }
    for index, rubric in enumerate(rubrics):
        path = f"$.CFRubrics[{index}]"
        version = _rubric_version(rubric, path, plan, resolve)
        if version is None:
            continue
        existing = stored.get(version.identifier)
        if existing is not None:
            if not existing.is_published:
                message = f"{existing.label} is an unpublished draft here; publish it first."
                plan.conflicts.append({"path": path, "message": message})
                continue
            changes = diff_documents(_comparable(existing), _comparable(version))
            if changes:
                message = (
                    f"Published rubric {existing.label} has this identifier but different "
                    "content: " + ", ".join(change.path for change in changes) + "."
                )
                plan.conflicts.append({"path": path, "message": message})
            continue
        if not rubric.get("extensions", {}).get("passingRule"):
            plan.problem(
                f"{path}.extensions.passingRule",
                'Say how the rubric is passed, e.g. {"kind": "all_at_least", "level": "Proficient"}.',
            )
        else:
            for message in rubric_services.publish_problems(version):
                plan.problem(path, message)
        plan.new_versions.append(version)

    criteria = {c.identifier for v in plan.new_versions for c in v.criteria}
    levels = {lv.identifier for v in plan.new_versions for c in v.criteria for lv in c.levels}
    for model, wanted in ((RubricCriterion, criteria), (CriterionLevel, levels)):
        for chunk in _chunks(sorted(wanted)):
            for identifier in db.session.scalars(
                select(model.identifier).where(model.identifier.in_(chunk))
            ):
                plan.problem(
                    "$.CFRubrics", f"{identifier} already identifies another rubric's part."
                )


def _plan_import(data: Any) -> _Plan:
    if not isinstance(data, dict):
        problem = {"path": "$", "message": "A CASE package is a JSON object."}
        raise InvalidCasePackage.from_problems([problem])
    problems: list[Problem] = []
    try:
        package = PackageSchema().load(data)
    except ValidationError as error:
        problems = [
            {"path": path, "message": message}
            for path, messages in error_paths(error.messages, "$").items()
            for message in messages
        ]
        package = error.valid_data if isinstance(error.valid_data, dict) else {}
    plan = _Plan(package.get("CFDocument") or {}, package.get("CFItems") or [], problems=problems)
    associations = package.get("CFAssociations") or []
    rubrics = package.get("CFRubrics") or []
    links = [
        association.get(end) or {}
        for association in associations
        for end in ("originNodeURI", "destinationNodeURI")
    ]
    links += [c.get("CFItemURI") or {} for r in rubrics for c in r.get("CFRubricCriteria", [])]
    resolve = _Resolver(plan, links)
    _place_items(plan, associations, resolve)
    _check_identifiers(plan, associations, rubrics)
    _check_against_database(plan)
    _plan_rubrics(plan, rubrics, resolve)
    if plan.problems:
        raise InvalidCasePackage.from_problems(plan.problems)
    if plan.conflicts:
        raise ConflictError(
            f"{len(plan.conflicts)} rubric(s) in the package clash with published rubrics; "
            "nothing was imported.",
            {"problems": plan.conflicts},
        )
    return plan


# --- Import: writes ---------------------------------------------------------


def _framework_code(plan: _Plan) -> str:
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
    framework.uri = _foreign_uri(document["uri"], "CFDocuments", document["identifier"])
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


def _write_items(plan: _Plan, framework_id: int) -> tuple[dict[str, int], int, int]:
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
                "uri": _foreign_uri(item["uri"], "CFItems", identifier),
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


def _write_associations(plan: _Plan, framework_id: int, ids: dict[str, int]) -> int:
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


def _write_rubrics(plan: _Plan, actor_id: int | None) -> list[str]:
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
    plan = _plan_import(data)
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
