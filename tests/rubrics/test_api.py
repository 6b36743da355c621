"""Who may write rubrics through the API, what anyone may read, and how a
malformed rubric document is answered."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import Role
from core.extensions import db
from rubrics import services
from rubrics.models import Rubric, RubricVersion
from tests.conftest import csrf_from
from tests.rubrics import LEVELS, admin_client, rubric_document

WRITES = [
    ("post", "/api/v1/rubrics", lambda: {"code": "R-2", "document": rubric_document()}),
    ("put", "/api/v1/rubrics/R-1/versions/1", lambda: rubric_document(title="Changed")),
    ("post", "/api/v1/rubrics/R-1/versions/1/publish", lambda: None),
    ("post", "/api/v1/rubrics/R-1/versions", lambda: None),
]
WRITE_IDS = ["create", "put", "publish", "new-version"]


def _draft(app: Flask) -> None:
    with app.app_context():
        services.create_rubric("R-1", rubric_document())
        db.session.commit()


def _state(app: Flask) -> list[tuple[str, int, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Rubric.code, RubricVersion.number, RubricVersion.status, RubricVersion.title)
            .join(RubricVersion)
            .order_by(Rubric.code, RubricVersion.number)
        )
        return [tuple(row) for row in rows]


# --- Authorization ------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
def test_anonymous_writes_are_refused_with_401(
    app: Flask, client: FlaskClient, method: str, path: str, body: Any
) -> None:
    _draft(app)
    before = _state(app)
    # A valid CSRF token, so that it is the missing sign-in that is refused.
    headers = {"X-CSRFToken": csrf_from(client, "/sign-in")}
    response = getattr(client, method)(path, json=body(), headers=headers)
    assert response.status_code == 401
    assert response.get_json()["status"] == 401
    assert _state(app) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("role", [Role.TEACHER, Role.REVIEWER, Role.STATE_VERIFIER])
def test_non_admin_writes_are_refused_with_403(
    app: Flask, signed_in: Any, role: Role, method: str, path: str, body: Any
) -> None:
    _draft(app)
    before = _state(app)
    client = signed_in(role)
    headers = {"X-CSRFToken": csrf_from(client, "/account")}
    response = getattr(client, method)(path, json=body(), headers=headers)
    assert response.status_code == 403
    assert _state(app) == before


def test_cookie_session_write_without_csrf_token_is_refused(app: Flask, signed_in: Any) -> None:
    client = signed_in(Role.PROGRAM_ADMIN)
    response = client.post("/api/v1/rubrics", json={"code": "R-2", "document": rubric_document()})
    assert response.status_code == 400
    assert response.get_json()["code"] == "csrf_failed"
    assert _state(app) == []


@pytest.mark.parametrize("role", [Role.PROGRAM_ADMIN, Role.SITE_ADMIN])
def test_admins_create_rubrics(app: Flask, signed_in: Any, role: Role) -> None:
    client, headers = admin_client(signed_in, role)
    response = client.post(
        "/api/v1/rubrics", json={"code": "R-2", "document": rubric_document()}, headers=headers
    )
    assert response.status_code == 201
    body = response.get_json()
    assert (body["code"], body["number"], body["status"]) == ("R-2", 1, "draft")
    assert _state(app) == [("R-2", 1, "draft", "Test rubric")]


def test_creating_an_existing_code_is_a_conflict(app: Flask, signed_in: Any) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    response = client.post(
        "/api/v1/rubrics",
        json={"code": "R-1", "document": rubric_document(title="Other")},
        headers=headers,
    )
    assert response.status_code == 409
    assert _state(app) == [("R-1", 1, "draft", "Test rubric")]


def test_admin_replaces_a_draft(app: Flask, signed_in: Any) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    edited = rubric_document(title="Edited")
    edited["criteria"][1]["weight"] = 2.5
    edited["criteria"].reverse()
    response = client.put("/api/v1/rubrics/R-1/versions/1", json=edited, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = client.get("/api/v1/rubrics/R-1/versions/1").get_json()
    assert body["title"] == "Edited"
    assert [(c["key"], c["weight"]) for c in body["criteria"]] == [
        ("C3", 1.0),
        ("C2", 2.5),
        ("C1", 1.0),
    ]
    assert client.get("/api/v1/rubrics").get_json()[0]["title"] == "Edited"


# --- Reading ------------------------------------------------------------------


def test_anyone_reads_the_list_and_a_version(app: Flask, client: FlaskClient) -> None:
    _draft(app)
    with app.app_context():
        services.publish(services.get_version("R-1", 1))
        services.new_draft(services.get_rubric("R-1"))
        db.session.commit()

    listed = client.get("/api/v1/rubrics")
    assert listed.status_code == 200
    assert listed.get_json() == [
        {
            "code": "R-1",
            "title": "Test rubric",
            "versions": [{"number": 1, "status": "published"}, {"number": 2, "status": "draft"}],
        }
    ]

    response = client.get("/api/v1/rubrics/R-1/versions/1")
    assert response.status_code == 200
    version = response.get_json()
    assert version["code"] == "R-1"
    assert version["passing_rule"] == {"kind": "all_at_least", "level": "Proficient"}
    assert [c["key"] for c in version["criteria"]] == ["C1", "C2", "C3"]
    first = version["criteria"][0]
    assert first["evidence_parts"] == ["A1"]
    assert first["levels"] == [
        {"name": level["name"], "score": level["score"], "descriptor": f"C1 at {level['name']}."}
        for level in LEVELS
    ]


def test_weighted_rule_reads_back_with_its_threshold(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        services.create_rubric(
            "R-1", rubric_document(passing_rule={"kind": "weighted_threshold", "threshold": 1.5})
        )
        db.session.commit()
    body = client.get("/api/v1/rubrics/R-1/versions/1").get_json()
    assert body["passing_rule"] == {"kind": "weighted_threshold", "threshold": 1.5}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/rubrics/NOPE/versions/1",
        "/api/v1/rubrics/R-1/versions/2",
        "/api/v1/rubrics/NOPE/diff?from=1&to=1",
    ],
)
def test_unknown_rubric_or_version_reads_404(app: Flask, client: FlaskClient, path: str) -> None:
    _draft(app)
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/rubrics/NOPE/versions/1"),
        ("post", "/api/v1/rubrics/NOPE/versions/1/publish"),
        ("post", "/api/v1/rubrics/NOPE/versions"),
        ("post", "/api/v1/rubrics/R-1/versions/9/publish"),
    ],
)
def test_unknown_rubric_writes_404(app: Flask, signed_in: Any, method: str, path: str) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    body = rubric_document() if method == "put" else None
    response = getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == 404
    assert _state(app) == [("R-1", 1, "draft", "Test rubric")]


# --- Malformed documents ------------------------------------------------------


def _with_criterion(index: int, **changes: Any) -> dict[str, Any]:
    document = rubric_document()
    document["criteria"][index].update(changes)
    return document


def _without_descriptor(index: int, level: str) -> dict[str, Any]:
    document = rubric_document()
    del document["criteria"][index]["descriptors"][level]
    return document


MALFORMED = [
    pytest.param(
        rubric_document(colour="blue"), {"colour": ["Unknown field."]}, id="unknown-field"
    ),
    pytest.param(
        _with_criterion(1, colour="blue"),
        {"criteria": {"1": {"colour": ["Unknown field."]}}},
        id="unknown-criterion-field",
    ),
    pytest.param(
        _without_descriptor(2, "Developing"),
        {"criteria": {"2": {"descriptors": ["Describe level(s) Developing."]}}},
        id="missing-descriptor",
    ),
    pytest.param(
        _with_criterion(
            0, descriptors={**_with_criterion(0)["criteria"][0]["descriptors"], "Wow": "x"}
        ),
        {"criteria": {"0": {"descriptors": ["Unknown level(s) Wow."]}}},
        id="descriptor-for-unknown-level",
    ),
    pytest.param(
        _with_criterion(2, key="C1"),
        {"criteria": ["Criterion keys must be different."]},
        id="duplicate-criterion-keys",
    ),
    pytest.param(
        rubric_document(levels=[*LEVELS, LEVELS[0]]),
        {"levels": ["Level names must be different."]},
        id="duplicate-level-names",
    ),
    pytest.param(
        _with_criterion(0, weight=0),
        {"criteria": {"0": {"weight": ["Must be greater than 0."]}}},
        id="zero-weight",
    ),
    pytest.param(
        _with_criterion(0, key="C 1/2"),
        {"criteria": {"0": {"key": ["Use 1-20 letters, digits, '.', '_' or '-'."]}}},
        id="bad-key",
    ),
    pytest.param(
        rubric_document(passing_rule={"kind": "all_at_least"}),
        {"passing_rule": {"level": ["Name the level every criterion must reach."]}},
        id="rule-without-level",
    ),
    pytest.param(
        rubric_document(passing_rule={"kind": "weighted_threshold", "level": "Proficient"}),
        {"passing_rule": {"threshold": ["Give the weighted score needed to pass."]}},
        id="rule-without-threshold",
    ),
    pytest.param(
        rubric_document(passing_rule={"kind": "majority", "level": "Proficient"}),
        {"passing_rule": {"kind": ["Must be one of: all_at_least, weighted_threshold."]}},
        id="unknown-rule",
    ),
    pytest.param(
        rubric_document(levels=[LEVELS[0], {"name": "Developing", "score": "high"}]),
        {"levels": {"1": {"score": ["Not a valid number."]}}},
        id="score-not-a-number",
    ),
]


def _missing(field: str) -> dict[str, Any]:
    document = rubric_document()
    del document[field]
    return document


MALFORMED += [
    pytest.param(_missing(field), {field: ["Missing data for required field."]}, id=f"no-{field}")
    for field in ("title", "levels", "passing_rule", "criteria")
]


@pytest.mark.parametrize(("document", "errors"), MALFORMED)
def test_malformed_document_is_refused_on_put_with_field_errors(
    app: Flask, signed_in: Any, document: dict[str, Any], errors: dict[str, Any]
) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    before = client.get("/api/v1/rubrics/R-1/versions/1").get_json()
    response = client.put("/api/v1/rubrics/R-1/versions/1", json=document, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == errors
    assert client.get("/api/v1/rubrics/R-1/versions/1").get_json() == before


@pytest.mark.parametrize(("document", "errors"), MALFORMED)
def test_malformed_document_is_refused_on_create_with_field_errors(
    app: Flask, signed_in: Any, document: dict[str, Any], errors: dict[str, Any]
) -> None:
    client, headers = admin_client(signed_in)
    response = client.post(
        "/api/v1/rubrics", json={"code": "R-2", "document": document}, headers=headers
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"document": errors}
    assert _state(app) == []


@pytest.mark.parametrize("code", ["", "R 1", "R/1", "R-" + "1" * 60])
def test_unusable_rubric_code_is_refused(app: Flask, signed_in: Any, code: str) -> None:
    client, headers = admin_client(signed_in)
    response = client.post(
        "/api/v1/rubrics", json={"code": code, "document": rubric_document()}, headers=headers
    )
    assert response.status_code == 422
    assert "code" in response.get_json()["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Rubric)) == 0


def test_body_that_is_not_json_is_refused(app: Flask, signed_in: Any) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    response = client.put(
        "/api/v1/rubrics/R-1/versions/1",
        data="title: not json",
        headers=headers | {"Content-Type": "application/json"},
    )
    assert response.status_code in {400, 422}
    assert response.get_json()["errors"]


def test_passing_level_longer_than_any_level_name_is_refused(app: Flask, signed_in: Any) -> None:
    _draft(app)
    client, headers = admin_client(signed_in)
    document = rubric_document(passing_rule={"kind": "all_at_least", "level": "P" * 61})
    response = client.put("/api/v1/rubrics/R-1/versions/1", json=document, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "passing_rule": {"level": ["Length must be between 1 and 60."]}
    }
