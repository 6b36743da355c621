"""Errors: JSON {code, message, errors} for the API, pages that say what to do."""

from __future__ import annotations

from flask import Flask


def test_api_errors_are_json_with_code_message_errors(app: Flask, client) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "not_found"
    assert body["message"]
    assert body["errors"] == {}


def test_malformed_json_is_a_clear_400(app: Flask, client) -> None:
    from accounts.models import Role
    from accounts.services import create_api_token, get_user
    from tests.conftest import make_user

    user_id = make_user(app, "t@example.org", Role.TEACHER)
    with app.app_context():
        _token, secret = create_api_token(get_user(user_id), "x")
    response = client.post(
        "/api/v1/tokens",
        data="{not json",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert set(response.get_json()) >= {"code", "message", "errors"}


def test_html_error_pages_tell_a_person_what_to_do(app: Flask, client) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Page not found" in html
    assert "Go to your home page" in html
    assert '<main id="main"' in html


def test_oversized_request_is_413(app: Flask, client) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/sign-in", data={"email": "x" * 5000})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_security_headers_are_set(app: Flask, client) -> None:
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_openapi_document_and_docs(app: Flask, client) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/v1/tokens" in spec["paths"]
    assert "/api/v1/me" in spec["paths"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "/static/swagger-ui/swagger-ui-bundle.js" in docs.get_data(as_text=True)
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
