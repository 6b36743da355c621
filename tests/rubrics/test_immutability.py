"""A published version never changes; edits go to a new draft version, and the
differences between two versions can be listed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from core.errors import ConflictError
from core.extensions import db
from rubrics import services
from rubrics.models import CriterionLevel, RubricCriterion, RubricVersion
from rubrics.services import PublishedRubricChanged
from tests.rubrics import admin_client, rubric_document, version_content


def _published(app: Flask) -> None:
    with app.app_context():
        services.publish(services.create_rubric("R-1", rubric_document()))
        db.session.commit()


def _stored_document(code: str = "R-1", number: int = 1) -> dict[str, Any]:
    db.session.expire_all()
    version = services.get_version(code, number)
    return services.document_from_version(version) | {
        "status": version.status,
        "published_at": version.published_at,
        "ids": [
            (criterion.identifier, [level.identifier for level in criterion.levels])
            for criterion in version.criteria
        ],
    }


# --- Through the API and the services -----------------------------------------


def test_put_to_a_published_version_is_a_conflict_and_changes_nothing(
    app: Flask, signed_in: Any
) -> None:
    _published(app)
    client, headers = admin_client(signed_in)
    before = client.get("/api/v1/rubrics/R-1/versions/1").get_json()
    edited = rubric_document(title="Changed title")
    edited["criteria"][0]["descriptors"]["Proficient"] = "Changed."

    response = client.put("/api/v1/rubrics/R-1/versions/1", json=edited, headers=headers)

    assert response.status_code == 409
    assert "Create a new version" in response.get_json()["message"]
    assert client.get("/api/v1/rubrics/R-1/versions/1").get_json() == before
    assert client.get("/api/v1/rubrics").get_json()[0]["title"] == "Test rubric"


def test_update_draft_of_a_published_version_raises_conflict(app: Flask) -> None:
    _published(app)
    with app.app_context():
        before = _stored_document()
        with pytest.raises(ConflictError):
            services.update_draft(
                services.get_version("R-1", 1), rubric_document(title="Changed title")
            )
        db.session.rollback()
        assert _stored_document() == before


def _level(version: RubricVersion, key: str, name: str) -> CriterionLevel:
    criterion = next(c for c in version.criteria if c.key == key)
    return next(level for level in criterion.levels if level.name == name)


def _set_descriptor(version: RubricVersion) -> None:
    _level(version, "C1", "Proficient").descriptor = "Rewritten after publishing."


def _set_score(version: RubricVersion) -> None:
    _level(version, "C2", "Exemplary").score = 30


def _rename_level(version: RubricVersion) -> None:
    _level(version, "C3", "Developing").name = "Emerging"


def _set_criterion_title(version: RubricVersion) -> None:
    version.criteria[0].title = "Another title"


def _set_weight(version: RubricVersion) -> None:
    version.criteria[1].weight = 5


def _set_evidence_parts(version: RubricVersion) -> None:
    version.criteria[1].evidence_parts = ["A9"]


def _remove_level(version: RubricVersion) -> None:
    del version.criteria[0].levels[-1]


def _delete_level(version: RubricVersion) -> None:
    db.session.delete(_level(version, "C1", "Not Yet"))


def _add_level(version: RubricVersion) -> None:
    version.criteria[0].levels.append(
        CriterionLevel(position=9, name="Beyond", score=9, descriptor="More.")
    )


def _add_level_by_id(version: RubricVersion) -> None:
    db.session.add(
        CriterionLevel(
            criterion_id=version.criteria[0].id,
            position=9,
            name="Beyond",
            score=9,
            descriptor="More.",
        )
    )


def _remove_criterion(version: RubricVersion) -> None:
    del version.criteria[-1]


def _delete_criterion(version: RubricVersion) -> None:
    db.session.delete(version.criteria[0])


def _add_criterion(version: RubricVersion) -> None:
    version.criteria.append(RubricCriterion(position=9, key="C9", title="New", weight=1.0))


def _add_criterion_by_id(version: RubricVersion) -> None:
    db.session.add(
        RubricCriterion(version_id=version.id, position=9, key="C9", title="New", weight=1.0)
    )


def _set_passing_level(version: RubricVersion) -> None:
    version.passing_level = "Developing"


def _unpublish(version: RubricVersion) -> None:
    version.status = "draft"
    version.published_at = None


def _unpublish_and_edit(version: RubricVersion) -> None:
    version.status = "draft"
    version.title = "Edited while unpublished"


def _delete_version(version: RubricVersion) -> None:
    db.session.delete(version)


ORM_EDITS: list[Callable[[RubricVersion], None]] = [
    _set_descriptor,
    _set_score,
    _rename_level,
    _set_criterion_title,
    _set_weight,
    _set_evidence_parts,
    _remove_level,
    _delete_level,
    _add_level,
    _add_level_by_id,
    _remove_criterion,
    _delete_criterion,
    _add_criterion,
    _add_criterion_by_id,
    _set_passing_level,
    _unpublish,
    _unpublish_and_edit,
    _delete_version,
]


@pytest.mark.parametrize("edit", ORM_EDITS, ids=[edit.__name__.strip("_") for edit in ORM_EDITS])
@pytest.mark.parametrize("fresh", [True, False], ids=["loaded", "after-commit"])
def test_orm_edit_of_a_published_version_is_refused_at_flush(
    app: Flask, edit: Callable[[RubricVersion], None], fresh: bool
) -> None:
    _published(app)
    with app.app_context():
        before = _stored_document()
        version = services.get_version("R-1", 1)
        if not fresh:
            # Everything expired, as after any commit: nothing of the old state is loaded.
            db.session.commit()
        edit(version)
        with pytest.raises(PublishedRubricChanged, match="R-1 version 1 is published"):
            db.session.flush()
        db.session.rollback()
        assert _stored_document() == before
        assert db.session.scalar(select(db.func.count()).select_from(CriterionLevel)) == 12


def test_draft_can_be_edited_through_the_orm(app: Flask) -> None:
    with app.app_context():
        version = services.create_rubric("R-1", rubric_document())
        db.session.commit()
        _set_descriptor(version)
        _remove_level(version)
        _remove_criterion(version)
        db.session.commit()
        document = _stored_document()
    assert document["criteria"][0]["descriptors"]["Proficient"] == "Rewritten after publishing."
    assert [c["key"] for c in document["criteria"]] == ["C1", "C2"]


# --- New versions and their differences ---------------------------------------


def test_new_version_is_a_draft_copy_that_can_be_edited_published_and_compared(
    app: Flask, signed_in: Any
) -> None:
    _published(app)
    client, headers = admin_client(signed_in)
    v1 = client.get("/api/v1/rubrics/R-1/versions/1").get_json()

    created = client.post("/api/v1/rubrics/R-1/versions", headers=headers)

    assert created.status_code == 201
    v2 = created.get_json()
    assert (v2["number"], v2["status"], v2["published_at"]) == (2, "draft", None)
    assert version_content(v2) == version_content(v1)
    assert v2["identifier"] != v1["identifier"]
    # A copy, not shared rows: editing the draft later cannot touch version 1.
    with app.app_context():
        ids = {
            version: {c.identifier for c in services.get_version("R-1", version).criteria}
            for version in (1, 2)
        }
    assert ids[1].isdisjoint(ids[2])
    # Asking again while the draft is open gives the same draft, not a third version.
    again = client.post("/api/v1/rubrics/R-1/versions", headers=headers)
    assert again.get_json()["number"] == 2

    edited = rubric_document(title="Test rubric, second edition")
    edited["criteria"][0]["descriptors"]["Proficient"] = "Clearer wording."
    del edited["criteria"][2]
    saved = client.put("/api/v1/rubrics/R-1/versions/2", json=edited, headers=headers)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["title"] == "Test rubric, second edition"
    assert [c["key"] for c in saved.get_json()["criteria"]] == ["C1", "C2"]
    # Saving the same document again (same keys, same positions) also works.
    resaved = client.put("/api/v1/rubrics/R-1/versions/2", json=edited, headers=headers)
    assert resaved.status_code == 200, resaved.get_json()
    assert version_content(resaved.get_json()) == version_content(saved.get_json())

    published = client.post("/api/v1/rubrics/R-1/versions/2/publish", headers=headers)
    assert published.status_code == 200
    assert published.get_json()["status"] == "published"
    assert client.get("/api/v1/rubrics/R-1/versions/1").get_json() == v1
    listed = client.get("/api/v1/rubrics").get_json()
    assert listed == [
        {
            "code": "R-1",
            "title": "Test rubric, second edition",
            "versions": [
                {"number": 1, "status": "published"},
                {"number": 2, "status": "published"},
            ],
        }
    ]

    diff = client.get("/api/v1/rubrics/R-1/diff?from=1&to=2")

    assert diff.status_code == 200
    rows = {row["path"]: row for row in diff.get_json()}
    assert rows["criteria[C1].descriptors.Proficient"] == {
        "path": "criteria[C1].descriptors.Proficient",
        "change": "changed",
        "before": "C1 at Proficient.",
        "after": "Clearer wording.",
    }
    assert rows["title"]["change"] == "changed"
    assert rows["criteria[C3].title"] == {
        "path": "criteria[C3].title",
        "change": "removed",
        "before": "Criterion C3",
        "after": None,
    }
    removed = {path for path, row in rows.items() if row["change"] == "removed"}
    assert all(path.startswith("criteria[C3].") for path in removed)
    assert {path for path in rows if "C3" not in path} == {
        "title",
        "criteria[C1].descriptors.Proficient",
    }
    assert not any(row["change"] == "added" for row in rows.values())

    backwards = client.get("/api/v1/rubrics/R-1/diff?from=2&to=1").get_json()
    assert {row["path"] for row in backwards} == set(rows)
    assert all(row["change"] == "added" for row in backwards if "C3" in row["path"])


def test_diff_reports_added_criteria_and_changed_scores(app: Flask, signed_in: Any) -> None:
    _published(app)
    client, headers = admin_client(signed_in)
    client.post("/api/v1/rubrics/R-1/versions", headers=headers)
    edited = rubric_document()
    edited["levels"][3]["score"] = 4
    edited["criteria"].append({**edited["criteria"][0], "key": "C4", "title": "Criterion C4"})
    assert (
        client.put("/api/v1/rubrics/R-1/versions/2", json=edited, headers=headers).status_code
        == 200
    )

    rows = client.get("/api/v1/rubrics/R-1/diff?from=1&to=2").get_json()

    changes = {row["path"]: (row["change"], row["before"], row["after"]) for row in rows}
    assert changes["levels[Exemplary].score"] == ("changed", 3, 4)
    assert changes["criteria[C4].title"] == ("added", None, "Criterion C4")
    assert changes["criteria[C4].#position"] == ("added", None, 4)


def test_diff_of_a_version_with_itself_is_empty(app: Flask, client: Any) -> None:
    _published(app)
    assert client.get("/api/v1/rubrics/R-1/diff?from=1&to=1").get_json() == []


@pytest.mark.parametrize(
    ("query", "status"),
    [("from=1&to=7", 404), ("from=7&to=1", 404), ("from=1", 422), ("from=one&to=1", 422)],
)
def test_diff_with_a_bad_version_is_refused(
    app: Flask, client: Any, query: str, status: int
) -> None:
    _published(app)
    response = client.get(f"/api/v1/rubrics/R-1/diff?{query}")
    assert response.status_code == status
    assert response.get_json()["errors"] is not None
