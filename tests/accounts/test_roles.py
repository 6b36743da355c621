"""Each role reaches its own home page and gets 403 on every other role's."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from tests.conftest import csrf_from, make_user

ROLE_PAGES = {
    Role.TEACHER: "/portfolio",
    Role.REVIEWER: "/reviewer",
    Role.PROGRAM_ADMIN: "/admin",
    Role.STATE_VERIFIER: "/verifier",
    Role.SITE_ADMIN: "/admin/users",
}
HEADINGS = {
    Role.TEACHER: "My portfolio",
    Role.REVIEWER: "My review queue",
    Role.PROGRAM_ADMIN: "Catalog and operations",
    Role.STATE_VERIFIER: "Verify a badge",
    Role.SITE_ADMIN: "Catalog and operations",
}


@pytest.mark.parametrize("role", list(Role))
def test_role_sees_own_home_and_403_elsewhere(
    app: Flask, client: FlaskClient, signed_in, role: Role
) -> None:
    signed_in(role)
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200
    assert HEADINGS[role] in home.get_data(as_text=True)
    assert client.get(ROLE_PAGES[role]).status_code == 200
    allowed = {ROLE_PAGES[role]}
    if role == Role.SITE_ADMIN:
        allowed.add("/admin")  # site admins also run operations
    for other, path in ROLE_PAGES.items():
        if path in allowed:
            continue
        response = client.get(path)
        assert response.status_code == 403, (role, other, path)
        assert "You do not have access" in response.get_data(as_text=True)


def test_anonymous_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    for path in ROLE_PAGES.values():
        response = client.get(path)
        assert response.status_code == 302
        assert "/sign-in?next=" in response.headers["Location"]


def test_user_with_several_roles_sees_each_in_navigation(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER, Role.REVIEWER)
    page = client.get("/portfolio").get_data(as_text=True)
    assert 'href="/portfolio"' in page and 'href="/reviewer"' in page
    assert client.get("/reviewer").status_code == 200
    assert client.get("/admin").status_code == 403


def test_site_admin_grants_roles_and_it_is_audited(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    from core.audit import verify_chain
    from core.extensions import db
    from core.models import AuditEvent

    signed_in(Role.SITE_ADMIN)
    user_id = make_user(app, "new.reviewer@example.org")
    token = csrf_from(client, "/admin/users")
    response = client.post(
        f"/admin/users/{user_id}/roles",
        data={"csrf_token": token, "roles": ["teacher", "reviewer"]},
    )
    assert response.status_code == 302
    users = client.get("/api/v1/users").get_json()
    granted = next(u for u in users if u["id"] == user_id)
    assert granted["roles"] == ["reviewer", "teacher"]
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(action="user.roles_changed").one()
        assert event.after == {"roles": ["reviewer", "teacher"]}
        assert verify_chain().ok
    bad = client.post(
        f"/admin/users/{user_id}/roles", data={"csrf_token": token, "roles": ["emperor"]}
    )
    assert bad.status_code == 422


def test_non_admin_cannot_change_roles_through_api(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.PROGRAM_ADMIN)
    user_id = make_user(app, "someone@example.org")
    token = csrf_from(client, "/admin")
    response = client.put(
        f"/api/v1/users/{user_id}/roles",
        json={"roles": ["site_admin"]},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 403
    assert response.get_json()["code"] == "forbidden"
