"""An import checks the whole package before writing anything: its shape, its
tree, its identifiers against the database, and its rubrics."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select

from core.diffing import diff_documents
from core.errors import ConflictError
from core.extensions import db
from credentials.authoring import error_paths
from credentials.case.plan import InvalidCasePackage, Plan, Problem, Resolver, chunks
from credentials.case.schemas import PackageSchema
from credentials.case.uris import item_uri, uri_key
from credentials.models import Framework, FrameworkItem, ItemAssociation
from rubrics import services as rubric_services
from rubrics.models import CriterionLevel, RubricCriterion, RubricVersion, VersionStatus

ITEM_COLUMNS = (
    "framework_id", "identifier", "uri", "code", "statement", "abbreviated", "item_type",
    "education_levels", "notes", "language", "position", "parent_id", "last_change",
)  # fmt: skip


def _check_identifiers(
    plan: Plan, associations: list[dict[str, Any]], rubrics: list[dict[str, Any]]
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


def _place_items(plan: Plan, associations: list[dict[str, Any]], resolve: Resolver) -> None:
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


def _check_against_database(plan: Plan) -> None:
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
        for chunk in chunks(sorted(paths)):
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
    rubric: dict[str, Any], path: str, plan: Plan, resolve: Resolver
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
        entry["item"] = criterion.item_uri and uri_key(criterion.item_uri)
    return document


def _plan_rubrics(plan: Plan, rubrics: list[dict[str, Any]], resolve: Resolver) -> None:
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
        for chunk in chunks(sorted(wanted)):
            for identifier in db.session.scalars(
                select(model.identifier).where(model.identifier.in_(chunk))
            ):
                plan.problem(
                    "$.CFRubrics", f"{identifier} already identifies another rubric's part."
                )


def plan_import(data: Any) -> Plan:
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
    plan = Plan(package.get("CFDocument") or {}, package.get("CFItems") or [], problems=problems)
    associations = package.get("CFAssociations") or []
    rubrics = package.get("CFRubrics") or []
    links = [
        association.get(end) or {}
        for association in associations
        for end in ("originNodeURI", "destinationNodeURI")
    ]
    links += [c.get("CFItemURI") or {} for r in rubrics for c in r.get("CFRubricCriteria", [])]
    resolve = Resolver(plan, links)
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
