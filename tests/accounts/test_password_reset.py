"""Password reset by email, delivered by the real mail job."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, csrf_from, make_user, run_jobs, sign_in


def _mails(app: Flask) -> list[email.message.EmailMessage]:
    folder = Path(app.config["MAIL_OUTBOX_PATH"])
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


def test_reset_link_by_mail_changes_password_once(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    other = app.test_client()
    assert sign_in(other, "teacher@example.org").status_code == 302

    token = csrf_from(client, "/password/forgot")
    response = client.post(
        "/password/forgot", data={"csrf_token": token, "email": "teacher@example.org"}
    )
    assert response.status_code == 302
    assert run_jobs(app) == 1
    [message] = _mails(app)
    assert message["To"] == "teacher@example.org"
    link = re.search(r"http://\S+/password/reset/\S+", message.get_content()).group(0)
    path = link.split("microcred.test", 1)[1]

    new_password = "a brand new passphrase"
    form_token = csrf_from(client, path)
    done = client.post(
        path,
        data={"csrf_token": form_token, "password": new_password, "password_confirm": new_password},
    )
    assert done.status_code == 302
    assert sign_in(client, "teacher@example.org", PASSWORD).status_code == 422
    assert sign_in(client, "teacher@example.org", new_password).status_code == 302
    # The other device's session ended with the password change.
    assert other.get("/api/v1/me").status_code == 401
    # The link works only once.
    again = client.get(path)
    assert again.status_code == 302
    assert "/password/forgot" in again.headers["Location"]


def test_unknown_email_gets_the_same_answer_and_no_mail(app: Flask, client: FlaskClient) -> None:
    token = csrf_from(client, "/password/forgot")
    response = client.post(
        "/password/forgot", data={"csrf_token": token, "email": "ghost@example.org"}
    )
    assert response.status_code == 302
    assert run_jobs(app) == 0
    assert _mails(app) == []


def test_forged_reset_link_is_refused(app: Flask, client: FlaskClient) -> None:
    make_user(app, "teacher@example.org")
    response = client.get("/password/reset/not-a-real-token")
    assert response.status_code == 302
    follow = client.get(response.headers["Location"])
    assert "not valid" in follow.get_data(as_text=True)
