"""Sign-up, sign-in, sign-out, wrong password, rate limit, CSRF, redirects."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from tests.conftest import PASSWORD, csrf_from, get_user, make_user, sign_in


def test_teacher_signs_up_and_lands_on_portfolio(app: Flask, client: FlaskClient) -> None:
    token = csrf_from(client, "/sign-up")
    response = client.post(
        "/sign-up",
        data={
            "csrf_token": token,
            "name": "Maya Lopez",
            "email": "Maya.Lopez@School.example",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "license_number": "TN-55512",
            "license_state": "tn",
        },
    )
    assert response.status_code == 302
    home = client.get(response.headers["Location"], follow_redirects=True)
    assert "My portfolio" in home.get_data(as_text=True)
    assert "Maya Lopez" in home.get_data(as_text=True)
    me = client.get("/api/v1/me").get_json()
    assert me["email"] == "maya.lopez@school.example"
    assert me["roles"] == ["teacher"]
    assert me["license_state"] == "TN"


def test_sign_up_errors_are_listed_and_tied_to_fields(app: Flask, client: FlaskClient) -> None:
    token = csrf_from(client, "/sign-up")
    response = client.post(
        "/sign-up",
        data={
            "csrf_token": token,
            "name": "A",
            "email": "not-an-email",
            "password": "short",
            "password_confirm": "other",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert 'href="#field-email"' in page
    assert 'id="field-email"' in page and 'aria-invalid="true"' in page
    assert "at least 10 characters" in page
    assert client.get("/api/v1/me").status_code == 401


def test_duplicate_email_is_refused(app: Flask, client: FlaskClient) -> None:
    make_user(app, "taken@example.org")
    token = csrf_from(client, "/sign-up")
    response = client.post(
        "/sign-up",
        data={
            "csrf_token": token,
            "name": "Someone",
            "email": "TAKEN@example.org",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_sign_in_and_sign_out(app: Flask, client: FlaskClient) -> None:
    make_user(app, "reviewer@example.org", Role.REVIEWER)
    response = sign_in(client, "reviewer@example.org")
    assert response.status_code == 302
    assert "My review queue" in client.get("/", follow_redirects=True).get_data(as_text=True)
    token = csrf_from(client, "/reviewer")
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/reviewer").status_code == 302  # back to the sign-in page
    assert client.get("/api/v1/me").status_code == 401


def test_wrong_password_is_refused_without_saying_which_part(
    app: Flask, client: FlaskClient
) -> None:
    make_user(app, "teacher@example.org")
    response = sign_in(client, "teacher@example.org", "wrong password here")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The email or password is not right" in page
    unknown = sign_in(client, "nobody@example.org", "wrong password here")
    assert "The email or password is not right" in unknown.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_sign_in_is_rate_limited(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    statuses = [
        sign_in(client, "teacher@example.org", f"guess number {n}").status_code for n in range(6)
    ]
    assert statuses[:5] == [422] * 5
    assert statuses[5] == 429
    # Even the right password is refused until the window passes.
    blocked = sign_in(client, "teacher@example.org")
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)


def test_forms_without_csrf_token_are_rejected(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    response = client.post("/sign-in", data={"email": "teacher@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 401


def test_api_with_session_cookie_needs_csrf(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    sign_in(client, "teacher@example.org")
    response = client.post("/api/v1/tokens", json={"name": "script"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "csrf_failed"
    token = csrf_from(client, "/account")
    response = client.post(
        "/api/v1/tokens", json={"name": "script"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_next_parameter_cannot_redirect_off_site(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        token = csrf_from(client, "/sign-in")
        response = client.post(
            "/sign-in",
            data={
                "email": "teacher@example.org",
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.status_code == 302
        assert "evil.example" not in response.headers["Location"]
        client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    token = csrf_from(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": "teacher@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/account",
        },
    )
    assert response.headers["Location"].endswith("/account")


def test_session_is_renewed_at_sign_in(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    client.get("/sign-in")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    sign_in(client, "teacher@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session


def test_disabled_account_cannot_sign_in(app: Flask, client: FlaskClient) -> None:
    from accounts.models import User, UserStatus
    from core.extensions import db

    user_id = make_user(app, "teacher@example.org")
    with app.app_context():
        db.session.get(User, user_id).status = UserStatus.DISABLED
        db.session.commit()
    assert sign_in(client, "teacher@example.org").status_code == 422
    assert get_user(app, user_id).last_login_at is None
