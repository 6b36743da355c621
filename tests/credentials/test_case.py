"""CASE 1.1 packages: export, import, round trip, refusals, resolvable URIs, scale."""

from __future__ import annotations

import copy
import io
import json
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from accounts.models import Role
from core.extensions import db
from core.models import AuditEvent
from credentials import case, case_api
from credentials.models import Framework, FrameworkItem, ItemAssociation
from credentials.services import get_framework
from rubrics import services as rubric_services
from rubrics.models import Rubric, RubricVersion
from tests.conftest import csrf_from

PACKAGES = "/api/v1/case/packages"
FOREIGN = "https://case.example.org/ims/case/v1p1"
CHANGED = "2024-05-01T12:00:00Z"

RUBRIC = {
    "title": "Choice and relevance",
    "description": "How well a lesson offers choice and relevance.",
    "levels": [
        {"name": "Beginning", "score": 1},
        {"name": "Proficient", "score": 2},
        {"name": "Exemplary", "score": 3},
    ],
    "passing_rule": {"kind": "all_at_least", "level": "Proficient"},
    "criteria": [
        {
            "key": "choice",
            "title": "Choice",
            "description": "Learners choose how to engage.",
            "weight": 2.0,
            "evidence_parts": ["artifact"],
            "descriptors": {
                "Beginning": "One fixed path.",
                "Proficient": "Two or more paths.",
                "Exemplary": "Learners design their own path.",
            },
        },
        {
            "key": "relevance",
            "title": "Relevance",
            "descriptors": {
                "Beginning": "Generic examples.",
                "Proficient": "Examples from learners' lives.",
                "Exemplary": "Learners bring the examples.",
            },
        },
    ],
}


@pytest.fixture
def app(app: Flask) -> Flask:
    # Until credentials.init_app calls case_api.register itself.
    if case_api.blp.name not in app.blueprints:
        case_api.register(app)
    return app


def build_framework(app: Flask) -> dict[str, str]:
    """Three levels of items, two associations and a published rubric on two items."""
    with app.app_context():
        framework = Framework(
            code="UDLT",
            title="UDL test framework",
            creator="Catalog team",
            publisher="Microcred",
            version="1.0",
            description="A small framework for tests.",
            language="en",
            adoption_status="Adopted",
            license_uri="https://creativecommons.org/licenses/by/4.0/",
            official_source_url="https://example.org/udl",
            subjects=["Education"],
        )

        def item(code: str, kind: str, position: int, parent: Any = None, **extra: Any) -> Any:
            return FrameworkItem(
                framework=framework,
                code=code,
                statement=f"Statement of {code}.",
                item_type=kind,
                position=position,
                parent=parent,
                education_levels=["KG", "01"],
                language="en",
                **extra,
            )

        engagement = item("UDLT.ENG", "Principle", 1, abbreviated="Engagement")
        representation = item("UDLT.REP", "Principle", 2)
        interest = item("UDLT.ENG.1", "Guideline", 1, engagement)
        effort = item("UDLT.ENG.2", "Guideline", 2, engagement, notes="Paraphrased.")
        choice = item("UDLT.ENG.1.1", "Consideration", 1, interest)
        relevance = item("UDLT.ENG.1.2", "Consideration", 2, interest)
        perception = item("UDLT.REP.1", "Guideline", 1, representation)
        framework.associations = [
            ItemAssociation(association_type="isRelatedTo", origin=choice, destination=perception),
            ItemAssociation(
                association_type="precedes", origin=interest, destination=effort, sequence=1
            ),
        ]
        db.session.add(framework)
        db.session.flush()
        version = rubric_services.create_rubric("udlt-choice", RUBRIC)
        # Recorded outside a request: another host name than the API's exports use.
        for criterion, target in zip(version.criteria, (choice, relevance), strict=True):
            criterion.item_uri = case.item_uri(target)
        rubric_services.publish(version)
        db.session.commit()
        return {
            "document": framework.identifier,
            "engagement": engagement.identifier,
            "choice": choice.identifier,
            "relevance": relevance.identifier,
            "rubric": version.identifier,
        }


def tree_package(widths: Sequence[int], title: str = "Generated framework") -> dict[str, Any]:
    """A package from another CASE server: a tree ``widths[0]`` wide at the top,
    each item of level n having ``widths[n + 1]`` children."""
    document_id = str(uuid.uuid4())
    document = {
        "identifier": document_id,
        "uri": f"{FOREIGN}/CFDocuments/{document_id}",
        "creator": "Generator",
        "title": title,
        "lastChangeDateTime": CHANGED,
    }
    document_link = {"title": title, "identifier": document_id, "uri": document["uri"]}
    items: list[dict[str, Any]] = []
    associations: list[dict[str, Any]] = []
    parents: list[tuple[dict[str, str], str]] = [(document_link, "GEN")]
    for width in widths:
        level = []
        for parent_link, parent_code in parents:
            for number in range(1, width + 1):
                identifier, link_id = str(uuid.uuid4()), str(uuid.uuid4())
                code = f"{parent_code}.{number}"
                link = {
                    "title": code,
                    "identifier": identifier,
                    "uri": f"{FOREIGN}/CFItems/{identifier}",
                }
                items.append(
                    {
                        "identifier": identifier,
                        "uri": link["uri"],
                        "fullStatement": f"Statement {code}",
                        "humanCodingScheme": code,
                        "CFItemType": "Competency",
                        "lastChangeDateTime": CHANGED,
                    }
                )
                associations.append(
                    {
                        "identifier": link_id,
                        "uri": f"{FOREIGN}/CFAssociations/{link_id}",
                        "associationType": "isChildOf",
                        "originNodeURI": link,
                        "destinationNodeURI": parent_link,
                        "sequenceNumber": number,
                        "lastChangeDateTime": CHANGED,
                    }
                )
                level.append((link, code))
        parents = level
    return {"CFDocument": document, "CFItems": items, "CFAssociations": associations}


def rubric_on(item: dict[str, Any], scores: Sequence[Any], **extensions: Any) -> dict[str, Any]:
    """A CFRubric with one criterion judging ``item``."""
    rubric_id, criterion_id = str(uuid.uuid4()), str(uuid.uuid4())
    levels = []
    for position, score in enumerate(scores, start=1):
        level_id = str(uuid.uuid4())
        levels.append(
            {
                "identifier": level_id,
                "uri": f"{FOREIGN}/CFRubricCriterionLevels/{level_id}",
                "quality": f"Level {position}",
                "description": f"What level {position} looks like.",
                "score": score,
                "position": position,
                "lastChangeDateTime": CHANGED,
            }
        )
    return {
        "identifier": rubric_id,
        "uri": f"{FOREIGN}/CFRubrics/{rubric_id}",
        "title": "Generated rubric",
        "lastChangeDateTime": CHANGED,
        "extensions": extensions,
        "CFRubricCriteria": [
            {
                "identifier": criterion_id,
                "uri": f"{FOREIGN}/CFRubricCriteria/{criterion_id}",
                "category": "Quality",
                "CFItemURI": {
                    "title": item["fullStatement"],
                    "identifier": item["identifier"],
                    "uri": item["uri"],
                },
                "lastChangeDateTime": CHANGED,
                "CFRubricCriterionLevels": levels,
            }
        ],
    }


def without_change_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_change_times(v) for k, v in value.items() if k != "lastChangeDateTime"}
    if isinstance(value, list):
        return [without_change_times(v) for v in value]
    return value


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Framework, FrameworkItem, ItemAssociation, RubricVersion)
        }


def as_admin(signed_in: Any, client: FlaskClient) -> dict[str, str]:
    signed_in(Role.PROGRAM_ADMIN, email="admin@example.org")
    return {"X-CSRFToken": csrf_from(client, "/account")}


def problem_paths(response: Any) -> set[str]:
    body = response.get_json()
    assert response.status_code == 400, body
    assert body["code"] == "invalid_case_package"
    problems = body["errors"]["problems"]
    assert body["message"].startswith(f"The CASE package has {len(problems)} problem(s)")
    return {problem["path"] for problem in problems}


def test_export_describes_the_framework_its_tree_and_rubric(
    app: Flask, client: FlaskClient
) -> None:
    ids = build_framework(app)
    response = client.get("/api/v1/case/frameworks/UDLT/package")
    assert response.status_code == 200
    package = response.get_json()

    document = package["CFDocument"]
    assert document["uri"] == f"http://microcred.test/ims/case/v1p1/CFDocuments/{ids['document']}"
    assert document["licenseURI"]["uri"] == "https://creativecommons.org/licenses/by/4.0/"
    assert document["lastChangeDateTime"].endswith("Z")
    assert [item["humanCodingScheme"] for item in package["CFItems"]] == [
        "UDLT.ENG", "UDLT.ENG.1", "UDLT.ENG.1.1", "UDLT.ENG.1.2", "UDLT.ENG.2",
        "UDLT.REP", "UDLT.REP.1",
    ]  # fmt: skip
    assert all(
        item["CFDocumentURI"]["identifier"] == ids["document"] for item in package["CFItems"]
    )

    associations = package["CFAssociations"]
    assert Counter(a["associationType"] for a in associations) == {
        "isChildOf": 7, "isRelatedTo": 1, "precedes": 1,
    }  # fmt: skip
    top = next(a for a in associations if a["originNodeURI"]["identifier"] == ids["engagement"])
    assert top["associationType"] == "isChildOf"
    assert top["destinationNodeURI"]["identifier"] == ids["document"]
    assert top["sequenceNumber"] == 1
    assert top["identifier"] == case.tree_association_identifier(ids["engagement"])

    [rubric] = package["CFRubrics"]
    assert rubric["identifier"] == ids["rubric"]
    assert rubric["extensions"]["passingRule"] == {"kind": "all_at_least", "level": "Proficient"}
    choice, relevance = rubric["CFRubricCriteria"]
    assert (choice["category"], choice["weight"], choice["position"]) == ("Choice", 2.0, 1)
    assert choice["CFItemURI"]["identifier"] == ids["choice"]
    assert relevance["CFItemURI"]["identifier"] == ids["relevance"]
    assert [(lv["quality"], lv["score"]) for lv in choice["CFRubricCriterionLevels"]] == [
        ("Beginning", 1.0), ("Proficient", 2.0), ("Exemplary", 3.0),
    ]  # fmt: skip
    assert choice["CFRubricCriterionLevels"][0]["rubricCriterionId"] == choice["identifier"]


def test_round_trip_through_an_empty_database(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    build_framework(app)
    package = client.get("/api/v1/case/frameworks/UDLT/package").get_json()
    with app.app_context():
        db.session.execute(delete(Framework))
        db.session.execute(delete(Rubric))
        db.session.commit()
    assert set(row_counts(app).values()) == {0}

    headers = as_admin(signed_in, client)
    imported = client.post(PACKAGES, json=package, headers=headers)
    assert imported.status_code == 200, imported.get_json()
    summary = imported.get_json()
    assert (summary["code"], summary["items"]) == ("UDLT", 7)
    assert row_counts(app) == {
        "frameworks": 1, "framework_items": 7, "item_associations": 2, "rubric_versions": 1,
    }  # fmt: skip
    with app.app_context():
        version = db.session.scalar(select(RubricVersion))
        assert version.is_published
        assert [c.key for c in version.criteria] == ["choice", "relevance"]
        assert version.criteria[0].evidence_parts == ["artifact"]

    again = client.get(summary["package_url"]).get_json()
    assert without_change_times(again) == without_change_times(package)


def test_reimport_is_idempotent(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    build_framework(app)
    package = client.get("/api/v1/case/frameworks/UDLT/package").get_json()
    headers = as_admin(signed_in, client)
    assert client.post(PACKAGES, json=package, headers=headers).status_code == 200
    counts = row_counts(app)

    second = client.post(PACKAGES, json=package, headers=headers)
    assert second.status_code == 200
    assert row_counts(app) == counts
    assert client.get("/api/v1/case/frameworks/UDLT/package").get_json() == package
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event.action == "case.package_imported"
        assert event.after["new_framework"] is False
        assert (event.after["items_created"], event.after["items_updated"]) == (0, 0)
        assert event.after["rubrics_created"] == []


def test_reimport_updates_the_framework_in_place(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    headers = as_admin(signed_in, client)
    package = tree_package((2, 2))
    assert client.post(PACKAGES, json=package, headers=headers).status_code == 200
    items = {item["humanCodingScheme"]: item for item in package["CFItems"]}
    # A revision: GEN.1.2 is renumbered GEN.1.3 and a new GEN.1.2 takes its place;
    # GEN.2.1 moves under GEN.1 and is reworded.
    revised = copy.deepcopy(package)
    new_item = copy.deepcopy(items["GEN.1.1"])
    new_item.update(identifier=str(uuid.uuid4()), humanCodingScheme="GEN.1.2")
    new_item["uri"] = f"{FOREIGN}/CFItems/{new_item['identifier']}"
    revised["CFItems"].append(new_item)
    for item in revised["CFItems"]:
        if item["identifier"] == items["GEN.1.2"]["identifier"]:
            item["humanCodingScheme"] = "GEN.1.3"
        if item["identifier"] == items["GEN.2.1"]["identifier"]:
            item["fullStatement"] = "Reworded."
    for association in revised["CFAssociations"]:
        if association["originNodeURI"]["identifier"] == items["GEN.2.1"]["identifier"]:
            association["destinationNodeURI"] = {
                "title": "GEN.1",
                "identifier": items["GEN.1"]["identifier"],
                "uri": items["GEN.1"]["uri"],
            }
    link = copy.deepcopy(revised["CFAssociations"][2])
    link.update(identifier=str(uuid.uuid4()), originNodeURI=link["originNodeURI"] | {"identifier": new_item["identifier"], "uri": new_item["uri"]})  # fmt: skip
    revised["CFAssociations"].append(link)

    response = client.post(PACKAGES, json=revised, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["code"], response.get_json()["items"]) == ("GEN", 7)
    assert row_counts(app)["frameworks"] == 1
    with app.app_context():
        framework = get_framework("GEN")
        by_id = {item.identifier: item for item in framework.items}
        assert by_id[items["GEN.1.2"]["identifier"]].code == "GEN.1.3"
        assert by_id[new_item["identifier"]].code == "GEN.1.2"
        moved = by_id[items["GEN.2.1"]["identifier"]]
        assert (moved.statement, moved.parent.code) == ("Reworded.", "GEN.1")


def test_a_loop_of_parents_is_refused(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    package = tree_package((1, 1, 1))
    top, _middle, bottom = package["CFAssociations"]
    top["destinationNodeURI"] = bottom["originNodeURI"]
    response = client.post(PACKAGES, json=package, headers=as_admin(signed_in, client))
    assert problem_paths(response) == {"$.CFItems[0]", "$.CFItems[1]", "$.CFItems[2]"}
    assert "loop" in response.get_json()["errors"]["problems"][0]["message"]
    assert row_counts(app)["frameworks"] == 0


def test_changed_rubric_under_a_published_identifier_is_a_conflict(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    build_framework(app)
    package = client.get("/api/v1/case/frameworks/UDLT/package").get_json()
    package["CFItems"][0]["fullStatement"] = "Changed, but must not be saved."
    package["CFRubrics"][0]["CFRubricCriteria"][0]["category"] = "Choices"
    counts = row_counts(app)

    response = client.post(PACKAGES, json=package, headers=as_admin(signed_in, client))
    assert response.status_code == 409
    [problem] = response.get_json()["errors"]["problems"]
    assert problem["path"] == "$.CFRubrics[0]"
    assert "udlt-choice v1" in problem["message"]
    assert "criteria[choice].title" in problem["message"]
    assert row_counts(app) == counts
    with app.app_context():
        assert (
            db.session.scalar(
                select(FrameworkItem.statement).where(FrameworkItem.code == "UDLT.ENG")
            )
            == "Statement of UDLT.ENG."
        )


def test_malformed_json_is_a_400(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    headers = as_admin(signed_in, client)
    response = client.post(
        PACKAGES,
        data='{"CFDocument": {',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert problem_paths(response) == {"$"}
    assert "Not valid JSON" in response.get_json()["errors"]["problems"][0]["message"]
    not_an_object = client.post(PACKAGES, json=[1, 2], headers=headers)
    assert problem_paths(not_an_object) == {"$"}


def test_partial_package_lists_every_problem_and_writes_nothing(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    build_framework(app)
    package = tree_package((2, 2))
    package["CFRubrics"] = [rubric_on(package["CFItems"][0], [1, "high"], passingRule={})]
    del package["CFDocument"]
    del package["CFItems"][1]["fullStatement"]
    package["CFItems"][3]["identifier"] = "not-a-uuid"
    nowhere = str(uuid.uuid4())
    package["CFAssociations"][2]["destinationNodeURI"] = {
        "title": "Nowhere",
        "identifier": nowhere,
        "uri": f"https://nowhere.example.org/ims/case/v1p1/CFItems/{nowhere}",
    }
    package["CFAssociations"][4]["surprise"] = True
    counts = row_counts(app)

    response = client.post(PACKAGES, json=package, headers=as_admin(signed_in, client))
    paths = problem_paths(response)
    assert {
        "$.CFDocument",
        "$.CFItems[1].fullStatement",
        "$.CFItems[3].identifier",
        "$.CFAssociations[2].destinationNodeURI",
        "$.CFAssociations[4].surprise",
        "$.CFRubrics[0].CFRubricCriteria[0].CFRubricCriterionLevels[1].score",
    } <= paths
    assert row_counts(app) == counts


def test_rubric_that_could_not_be_published_fails_the_whole_import(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    package = tree_package((2,))
    first, second = package["CFItems"]
    package["CFRubrics"] = [
        rubric_on(first, [3, 2, 1], passingRule={"kind": "all_at_least", "level": "Level 2"}),
        rubric_on(second, [1, 2]),
    ]
    response = client.post(PACKAGES, json=package, headers=as_admin(signed_in, client))
    problems = response.get_json()["errors"]["problems"]
    assert problem_paths(response) == {"$.CFRubrics[0]", "$.CFRubrics[1].extensions.passingRule"}
    assert "must rise" in problems[0]["message"]
    assert set(row_counts(app).values()) == {0}


def test_new_rubric_is_created_published_with_its_case_identifiers(
    app: Flask, client: FlaskClient, signed_in: Any
) -> None:
    package = tree_package((2, 1))
    rubric = rubric_on(package["CFItems"][0], [0, 1.5], passingRule={"kind": "weighted_threshold", "threshold": 1})  # fmt: skip
    package["CFRubrics"] = [rubric]
    response = client.post(PACKAGES, json=package, headers=as_admin(signed_in, client))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["code"] == "GEN"
    with app.app_context():
        version = case.published_rubric_version(rubric["identifier"])
        assert version.rubric.code == "generated-rubric"
        [criterion] = version.criteria
        assert criterion.identifier == rubric["CFRubricCriteria"][0]["identifier"]
        assert criterion.item_uri == package["CFItems"][0]["uri"]
        assert [lv.score for lv in criterion.levels] == [0, 1.5]
        framework = get_framework("GEN")
        assert framework.uri == package["CFDocument"]["uri"]
        assert [i.code for i in framework.items if i.parent is None] == ["GEN.1", "GEN.2"]
    exported = client.get("/api/v1/case/frameworks/GEN/package").get_json()
    assert exported["CFItems"][0]["uri"] == package["CFItems"][0]["uri"]
    assert exported["CFRubrics"][0]["identifier"] == rubric["identifier"]


def test_only_program_admins_import(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    package = tree_package((1,))
    anonymous = client.post(
        PACKAGES, json=package, headers={"X-CSRFToken": csrf_from(client, "/sign-in")}
    )
    assert anonymous.status_code == 401
    signed_in(Role.TEACHER, email="teacher@example.org")
    teacher = client.post(
        PACKAGES, json=package, headers={"X-CSRFToken": csrf_from(client, "/account")}
    )
    assert teacher.status_code == 403
    assert row_counts(app)["frameworks"] == 0


def test_export_and_list_are_public_and_unknown_code_is_404(
    app: Flask, client: FlaskClient
) -> None:
    build_framework(app)
    listed = client.get("/api/v1/case/frameworks").get_json()
    assert [(f["code"], f["items"]) for f in listed] == [("UDLT", 7)]
    assert client.get(listed[0]["package_url"]).status_code == 200
    missing = client.get("/api/v1/case/frameworks/NOPE/package")
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "not_found"


def test_upload_a_package_file(app: Flask, client: FlaskClient, signed_in: Any) -> None:
    headers = as_admin(signed_in, client)
    package = tree_package((3, 2))
    response = client.post(
        f"{PACKAGES}/upload",
        data={"file": (io.BytesIO(json.dumps(package).encode()), "framework.json")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["code"], response.get_json()["items"]) == ("GEN", 9)

    broken = client.post(
        f"{PACKAGES}/upload",
        data={"file": (io.BytesIO(b"\xff\xfe not json"), "framework.json")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert problem_paths(broken) == {"$"}


def test_case_uris_resolve_without_signing_in(app: Flask, client: FlaskClient) -> None:
    ids = build_framework(app)
    base = "/ims/case/v1p1"
    document = client.get(f"{base}/CFDocuments/{ids['document']}").get_json()
    assert document["title"] == "UDL test framework"
    assert document["CFPackageURI"]["uri"].endswith(f"{base}/CFPackages/{ids['document']}")
    item = client.get(f"{base}/CFItems/{ids['choice']}").get_json()
    assert (item["humanCodingScheme"], item["CFDocumentURI"]["identifier"]) == (
        "UDLT.ENG.1.1",
        ids["document"],
    )
    package = client.get(f"{base}/CFPackages/{ids['document']}").get_json()
    assert package == client.get("/api/v1/case/frameworks/UDLT/package").get_json()
    rubric = client.get(f"{base}/CFRubrics/{ids['rubric']}").get_json()
    assert rubric["CFRubricCriteria"][0]["CFItemURI"]["identifier"] == ids["choice"]
    for kind in ("CFDocuments", "CFItems", "CFPackages", "CFRubrics"):
        assert client.get(f"{base}/{kind}/{uuid.uuid4()}").status_code == 404


def test_ten_thousand_items_import_in_bulk_within_memory(app: Flask) -> None:
    package = tree_package((10, 9, 110))
    assert len(package["CFItems"]) == 10_000
    untouched = copy.deepcopy(package["CFItems"][-1])
    with app.app_context():
        tracemalloc.start()
        try:
            framework = case.import_package(package, actor_id=None)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        db.session.commit()
        assert framework.code == "GEN"
        items = select(func.count()).where(FrameworkItem.framework_id == framework.id)
        assert db.session.scalar(items) == 10_000
        assert db.session.scalar(items.where(FrameworkItem.parent_id.is_(None))) == 10
        leaf = case.item_by_identifier(untouched["identifier"])
        assert (leaf.code, leaf.position, leaf.parent.parent.parent) == ("GEN.10.9.110", 110, None)
    assert package["CFItems"][-1] == untouched
    assert peak < 300 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
