"""Program admins author, preview, publish, version, compare and retire."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from core.extensions import db
from core.models import AuditEvent
from credentials import services
from credentials.seed import read_catalog
from tests.conftest import csrf_from


def _new_document(code: str = "UDL-07") -> dict[str, Any]:
    document = copy.deepcopy(
        next(d for d in read_catalog()["credentials"] if d["code"] == "UDL-05")
    )
    document["code"] = code
    document["title"] = "Flexible Expression in Science Labs"
    return document


def _admin(client: FlaskClient, signed_in) -> dict[str, str]:
    signed_in(Role.PROGRAM_ADMIN)
    return {"X-CSRFToken": csrf_from(client, "/admin/catalog")}


def test_api_create_publish_version_diff_retire(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    headers = _admin(client, signed_in)
    created = client.post("/api/v1/micro-credentials", json=_new_document(), headers=headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "draft"
    # Drafts are invisible to the public.
    anonymous = seeded.test_client()
    assert anonymous.get("/api/v1/micro-credentials/UDL-07").status_code == 404
    assert "UDL-07" not in [c["code"] for c in anonymous.get("/api/v1/catalog").get_json()]

    published = client.post("/api/v1/micro-credentials/UDL-07/versions/1/publish", headers=headers)
    assert published.status_code == 200
    assert published.get_json()["rubric"]["status"] == "published"
    assert anonymous.get("/api/v1/micro-credentials/UDL-07").status_code == 200
    assert "UDL-07" in [c["code"] for c in anonymous.get("/api/v1/catalog?q=science").get_json()]

    # A published version never changes.
    changed = _new_document()
    changed["pd_hours"] = 99
    assert (
        client.put(
            "/api/v1/micro-credentials/UDL-07/versions/1", json=changed, headers=headers
        ).status_code
        == 409
    )

    draft = client.post("/api/v1/micro-credentials/UDL-07/versions", headers=headers)
    assert draft.status_code == 201 and draft.get_json()["version"] == 2
    changed["rubric"]["criteria"][0]["descriptors"]["Proficient"] = "A sharper descriptor."
    saved = client.put("/api/v1/micro-credentials/UDL-07/versions/2", json=changed, headers=headers)
    assert saved.status_code == 200
    diff = client.get(
        "/api/v1/micro-credentials/UDL-07/diff?from=1&to=2", headers=headers
    ).get_json()
    paths = {row["path"]: row for row in diff}
    assert paths["pd_hours"]["before"] == 15 and paths["pd_hours"]["after"] == 99
    assert "rubric.criteria[C1].descriptors.Proficient" in paths
    assert (
        client.post(
            "/api/v1/micro-credentials/UDL-07/versions/2/publish", headers=headers
        ).status_code
        == 200
    )

    with seeded.app_context():
        v1 = services.get_version("UDL-07", 1)
        v2 = services.current_credential("UDL-07")
        # Each version keeps its own rubric version; v1 (and work started on it) is untouched.
        assert v2.version == 2 and v2.rubric_version.number == 2
        assert v1.rubric_version.number == 1 and v1.pd_hours == 15
        assert v1.rubric_version.criteria[0].levels[-1].descriptor != "A sharper descriptor."
        actions = {e.action for e in db.session.query(AuditEvent)}
    assert {
        "micro_credential.created",
        "micro_credential.published",
        "micro_credential.version_created",
        "rubric.published",
    } <= actions

    retired = client.post("/api/v1/micro-credentials/UDL-07/retire", headers=headers)
    assert retired.status_code == 200
    assert anonymous.get("/api/v1/micro-credentials/UDL-07").status_code == 404
    assert (
        client.post("/api/v1/micro-credentials/UDL-07/retire", headers=headers).status_code == 409
    )


def test_unchanged_rubric_is_reused_by_the_next_version(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    headers = _admin(client, signed_in)
    client.post("/api/v1/micro-credentials/MTSS-01/versions", headers=headers)
    document = client.get(
        "/api/v1/micro-credentials/MTSS-01/versions/2", headers=headers
    ).get_json()
    document["summary"] = "A clearer summary."
    assert (
        client.put(
            "/api/v1/micro-credentials/MTSS-01/versions/2", json=document, headers=headers
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/micro-credentials/MTSS-01/versions/2/publish", headers=headers
        ).status_code
        == 200
    )
    with seeded.app_context():
        assert services.current_credential("MTSS-01").rubric_version.number == 1
        assert [
            v.number for v in services.current_credential("MTSS-01").rubric_version.rubric.versions
        ] == [1]


def test_invalid_documents_and_unpublishable_rubrics(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    headers = _admin(client, signed_in)
    document = _new_document()
    document["evidence_parts"][2]["key"] = "Z9"  # A1 is judged but no longer exists
    response = client.post("/api/v1/micro-credentials", json=document, headers=headers)
    assert response.status_code == 422
    assert (
        "rubric" in response.get_json()["errors"]
        or "evidence_parts" in response.get_json()["errors"]
    )

    document = _new_document()
    document["alignments"] = ["UDL3.99.9"]
    response = client.post("/api/v1/micro-credentials", json=document, headers=headers)
    assert response.status_code == 422
    assert "UDL3.99.9" in str(response.get_json()["errors"])

    document = _new_document()
    for level in document["rubric"]["levels"]:
        level["score"] = 1  # not strictly rising
    assert (
        client.post("/api/v1/micro-credentials", json=document, headers=headers).status_code == 201
    )
    refused = client.post("/api/v1/micro-credentials/UDL-07/versions/1/publish", headers=headers)
    assert refused.status_code == 422
    assert "rise strictly" in str(refused.get_json()["errors"])
    with seeded.app_context():
        assert services.versions_of("UDL-07")[0].status == "draft"

    assert (
        client.post(
            "/api/v1/micro-credentials", json=_new_document("UDL-05"), headers=headers
        ).status_code
        == 409
    )
    assert (
        client.get("/api/v1/micro-credentials/UDL-05/versions/7", headers=headers).status_code
        == 404
    )


def test_editor_pages_author_preview_publish(seeded: Flask, client: FlaskClient, signed_in) -> None:
    _admin(client, signed_in)
    form = client.get("/admin/catalog/new")
    assert form.status_code == 200
    token = csrf_from(client, "/admin/catalog/new")
    broken = client.post(
        "/admin/catalog/new", data={"csrf_token": token, "document": "code: [unclosed"}
    )
    assert broken.status_code == 422
    assert "cannot be read at line" in broken.get_data(as_text=True)

    document = _new_document()
    del document["rubric"]["criteria"][1]["descriptors"]["Developing"]
    invalid = client.post(
        "/admin/catalog/new", data={"csrf_token": token, "document": yaml.safe_dump(document)}
    )
    assert invalid.status_code == 422
    assert "rubric.criteria[1].descriptors" in invalid.get_data(as_text=True)

    saved = client.post(
        "/admin/catalog/new",
        data={"csrf_token": token, "document": yaml.safe_dump(_new_document())},
    )
    assert saved.status_code == 302
    preview = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Preview:" in preview and "Flexible Expression in Science Labs" in preview
    published = client.post("/admin/catalog/UDL-07/versions/1/publish", data={"csrf_token": token})
    assert published.status_code == 302
    assert "Flexible Expression in Science Labs" in client.get("/catalog/UDL-07").get_data(
        as_text=True
    )
    assert (
        client.get("/admin/catalog/UDL-07/versions/1/edit").status_code == 302
    )  # published: no editing

    new_version = client.post("/admin/catalog/UDL-07/new-version", data={"csrf_token": token})
    assert new_version.headers["Location"].endswith("/admin/catalog/UDL-07/versions/2/edit")
    editor = client.get("/admin/catalog/UDL-07/versions/2/edit").get_data(as_text=True)
    assert "code: UDL-07" in editor
    diff = client.get("/admin/catalog/UDL-07/diff?from=1&to=2").get_data(as_text=True)
    assert "version" in diff
    assert client.get("/admin/catalog/UDL-07/diff?from=x").status_code == 400


def test_only_admins_author(seeded: Flask, client: FlaskClient, signed_in) -> None:
    anonymous = seeded.test_client()
    assert anonymous.post("/api/v1/micro-credentials", json=_new_document()).status_code in (
        400,
        401,
    )
    assert anonymous.get("/admin/catalog").status_code == 302
    signed_in(Role.TEACHER)
    token = csrf_from(client, "/catalog")
    headers = {"X-CSRFToken": token}
    assert (
        client.post("/api/v1/micro-credentials", json=_new_document(), headers=headers).status_code
        == 403
    )
    assert (
        client.post("/api/v1/micro-credentials/UDL-05/retire", headers=headers).status_code == 403
    )
    assert (
        client.get("/api/v1/micro-credentials/UDL-05/versions", headers=headers).status_code == 403
    )
    for path in (
        "/admin/catalog",
        "/admin/catalog/new",
        "/admin/catalog/UDL-05/versions/1/preview",
    ):
        assert client.get(path).status_code == 403
    assert (
        client.post("/admin/catalog/UDL-05/retire", data={"csrf_token": token}).status_code == 403
    )
