"""Personal API tokens: shown once, stored hashed, usable as Bearer, revocable."""

from __future__ import annotations

import hashlib

from flask import Flask
from flask.testing import FlaskClient

from accounts.models import ApiToken, Role
from core.extensions import db
from tests.conftest import CSRF_RE, csrf_from


def test_token_created_in_page_is_shown_once_and_works(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER, email="t@example.org")
    token = csrf_from(client, "/account")
    page = client.post("/account/tokens", data={"csrf_token": token, "name": "gradebook sync"})
    html = page.get_data(as_text=True)
    assert "It will not be shown again" in html
    start = html.index('id="new-token"')
    secret = html[start:].split('value="', 1)[1].split('"', 1)[0]
    assert secret.startswith("mc_")
    assert secret not in client.get("/account").get_data(as_text=True)
    with app.app_context():
        stored = db.session.query(ApiToken).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (stored.prefix * 2)

    anonymous = app.test_client()
    me = anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == "t@example.org"


def test_api_create_use_and_revoke(app: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.REVIEWER, email="r@example.org")
    csrf = csrf_from(client, "/account")
    created = client.post("/api/v1/tokens", json={"name": "cli"}, headers={"X-CSRFToken": csrf})
    assert created.status_code == 201
    body = created.get_json()
    secret, token_id = body["token"], body["id"]

    bearer = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    listed = bearer.get("/api/v1/tokens", headers=headers).get_json()
    assert [t["name"] for t in listed] == ["cli"]
    assert all("token" not in t for t in listed)
    assert listed[0]["last_used_at"] is not None
    # A bearer client needs no CSRF token.
    second = bearer.post("/api/v1/tokens", json={"name": "second"}, headers=headers)
    assert second.status_code == 201

    revoked = bearer.delete(f"/api/v1/tokens/{token_id}", headers=headers)
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert bearer.get("/api/v1/me", headers=headers).status_code == 401


def test_revoking_someone_elses_token_is_not_found(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    from accounts.services import create_api_token, get_user
    from tests.conftest import make_user

    other_id = make_user(app, "other@example.org")
    with app.app_context():
        token, _secret = create_api_token(get_user(other_id), "theirs")
        token_id = token.id
    signed_in(Role.TEACHER, email="me@example.org")
    csrf = csrf_from(client, "/account")
    response = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(ApiToken, token_id).revoked_at is None


def test_bad_bearer_tokens_are_unauthorized(app: Flask, client: FlaskClient) -> None:
    for header in ("Bearer nonsense", "Bearer mc_wrong", "Basic abc", "Bearer "):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert set(response.get_json()) >= {"code", "message", "errors"}


def test_token_name_is_validated(app: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    csrf = csrf_from(client, "/account")
    response = client.post("/api/v1/tokens", json={"name": ""}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "unprocessable_entity"
    assert "name" in body["errors"]
    page = client.post("/account/tokens", data={"csrf_token": csrf, "name": "x" * 101})
    assert page.status_code == 422
    assert 'href="#token-name"' in page.get_data(as_text=True)
    assert CSRF_RE.search(page.get_data(as_text=True))
