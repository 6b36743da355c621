"""Hostile input: each attempt gets a clear 4xx and changes nothing.

Covered elsewhere and not repeated here: oversized bodies (tests/core/test_errors.py),
renamed executables, size limits hit mid-stream and hostile file names
(tests/evidence/test_uploads.py), sign-in rate limiting, session renewal at sign-in,
CSRF and open redirects (tests/accounts/test_sign_in.py), tampered and forged
credentials, VC-JWTs and PDFs (tests/badges/test_issuance.py, test_formats.py,
test_pdf.py), verification by URL refusing other addresses (tests/badges/test_formats.py),
every route x role (tests/security/test_authorization_matrix.py).
"""

from __future__ import annotations

import email
import email.policy
import io
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import Role, User
from core.extensions import db
from core.models import AuditEvent
from tests.conftest import csrf_from
from tests.evidence.helpers import TeacherSession, pdf_bytes

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
FORMULA = '=HYPERLINK("http://evil.example/x","Click me")'


def counts(app: Flask) -> dict[str, int]:
    """Rows in every table, and the audit log: what "changes nothing" is measured by."""
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table)) or 0
            for table in db.metadata.sorted_tables
        } | {"audit": db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0}


@pytest.fixture
def teacher(seeded: Flask, client: FlaskClient, signed_in: Any) -> tuple[TeacherSession, int]:
    session = TeacherSession(signed_in(Role.TEACHER))
    return session, session.start("UDL-05")["id"]


def test_ids_beyond_the_database_integer_range_are_404(
    teacher: tuple[TeacherSession, int], seeded: Flask
) -> None:
    session, _ = teacher
    before = counts(seeded)
    for path in (
        "/api/v1/submissions/99999999999999999999",
        "/api/v1/evidence-items/2147483648/file",
        "/api/v1/reviews/assignments/18446744073709551616",
    ):
        response = session.client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["code"] == "not_found" or response.get_json()["message"]
    assert session.client.get("/submissions/99999999999999999999").status_code == 404
    assert counts(seeded) == before


def test_conflicts_naming_nobody_are_refused(seeded: Flask, signed_in: Any) -> None:
    client = signed_in(Role.REVIEWER)
    before = counts(seeded)
    token = csrf_from(client, "/reviewer")
    for body, field in (
        ({"organization_id": 987654}, "organization_id"),
        ({"person_id": 987654}, "person_id"),
        ({"person_id": 10**30}, "person_id"),
    ):
        response = client.post(
            "/api/v1/reviews/me/conflicts", json=body, headers={"X-CSRFToken": token}
        )
        assert response.status_code == 422, response.get_json()
        assert field in response.get_json()["errors"]
    assert counts(seeded) == before


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"part_key": "P1", "text": ', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b'["a list", "not an object"]', "application/json"),
        (b'{"part_key": "P1", "text": "x", "lock_version": "1e309"}', "application/json"),
        (b"part_key=P1&text=x", "application/x-www-form-urlencoded"),
        (b'{"part_key": "P1", "text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json"),
    ],
)
def test_malformed_json_changes_nothing(
    teacher: tuple[TeacherSession, int], seeded: Flask, body: bytes, content_type: str
) -> None:
    session, submission_id = teacher
    before = counts(seeded)
    response = session.client.post(
        f"/api/v1/submissions/{submission_id}/items/text",
        data=body,
        headers={**session.headers, "Content-Type": content_type},
    )
    assert 400 <= response.status_code < 500
    assert response.get_json()["message"]
    assert counts(seeded) == before


def test_a_credential_nested_too_deeply_is_a_clear_400(seeded: Flask) -> None:
    """Python's JSON parser recurses: a body nested tens of thousands of levels deep
    is bad input, answered as such, on the public verification endpoint too."""
    body = b'{"credentialSubject": ' + b'{"x": ' * 50_000 + b"1" + b"}" * 50_001
    response = seeded.test_client().post(
        "/api/v1/verifications", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "nested_too_deeply"
    assert "nested too deeply" in response.get_json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4',
        b"no boundary at all",
        b'--XX\r\nContent-Disposition: form-data; name="other"\r\n\r\nvalue\r\n--XX--\r\n',
    ],
)
def test_malformed_multipart_changes_nothing(
    teacher: tuple[TeacherSession, int], seeded: Flask, body: bytes
) -> None:
    session, submission_id = teacher
    before = counts(seeded)
    response = session.client.post(
        f"/api/v1/submissions/{submission_id}/parts/A1/files",
        data=body,
        headers={**session.headers, "Content-Type": "multipart/form-data; boundary=XX"},
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.get_json()["message"]
    assert counts(seeded) == before


def test_zip_bomb_and_polyglot_uploads_are_refused(
    teacher: tuple[TeacherSession, int], seeded: Flask
) -> None:
    import zipfile

    session, submission_id = teacher
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"\0" * (64 * 1024 * 1024))
    polyglot = pdf_bytes() + b"\n<html><script>alert(1)</script></html>\nMZ\x90\x00"
    gif_js = b"GIF89a/*\x00\x00*/=alert(1)//;"
    before = counts(seeded)
    for name, content in (("bomb.zip", bomb.getvalue()), ("bomb.pdf", bomb.getvalue())):
        response = session.upload(submission_id, "A1", name, content)
        assert response.status_code in (415, 422), (name, response.get_json())
        assert response.get_json()["message"]
    assert counts(seeded) == before
    # A PDF with trailing HTML and a GIF that is also JavaScript are still a PDF and a
    # GIF: they are stored, and only ever served as downloads of their sniffed type,
    # which the browser is told not to second-guess, so the script never runs.
    for part, name, content, media_type in (
        ("A1", "plan.pdf", polyglot, "application/pdf"),
        ("A2", "pic.gif", gif_js, "image/gif"),
    ):
        response = session.upload(submission_id, part, name, content)
        assert response.status_code == 201, response.get_json()
        download = session.client.get(f"/api/v1/evidence-items/{response.get_json()['id']}/file")
        assert download.status_code == 200
        assert download.mimetype == media_type
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "name",
    [
        "Null\x00Byte",
        "\x00",
        "Bell\x07 and escape\x1b[31m",
    ],
)
def test_control_characters_in_names_are_refused(
    app: Flask, client: FlaskClient, name: str
) -> None:
    before = counts(app)
    token = csrf_from(client, "/sign-up")
    response = client.post(
        "/sign-up",
        data={
            "name": name,
            "email": "ctl@example.org",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
            "csrf_token": token,
        },
    )
    assert response.status_code in (400, 422)
    assert counts(app) == before


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström-Øster",  # precomposed
        "Zoe\u0308 A\u030angstro\u0308m",  # combining marks
        "\u202eevil\u202c reversed",  # bidi override
        "名前 テスト 🧑‍🏫",  # CJK and a ZWJ emoji sequence
        "a" * 200,
    ],
)
def test_unicode_names_are_stored_and_shown_as_given(
    app: Flask, client: FlaskClient, name: str
) -> None:
    token = csrf_from(client, "/sign-up")
    response = client.post(
        "/sign-up",
        data={
            "name": name,
            "email": "uni@example.org",
            "password": "a long enough passphrase",
            "password_confirm": "a long enough passphrase",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    with app.app_context():
        stored = db.session.scalar(select(User.name).where(User.email == "uni@example.org"))
    assert stored == name
    assert client.get("/api/v1/me").get_json()["name"] == name


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def internal_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_link_evidence_to_internal_addresses_is_never_fetched(
    teacher: tuple[TeacherSession, int], seeded: Flask, internal_server: str
) -> None:
    from tests.conftest import run_jobs

    session, submission_id = teacher
    before = counts(seeded)
    for url in (
        f"{internal_server}/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:6379/",
        "http://[::1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "http://user:pass@example.org/",
    ):
        response = session.link(submission_id, "A3", url)
        assert response.status_code == 422, (url, response.get_json())
        assert response.get_json()["errors"]
    assert counts(seeded) == before
    run_jobs(seeded)
    assert _Recorder.hits == []


def test_hostile_names_and_text_are_inert_in_pages_mail_pdf_and_csv(
    seeded: Flask, tmp_path: Path
) -> None:
    """A teacher named with markup and a spreadsheet formula, evidence text with an
    event handler: the badge page, the reviewer's page, the mail, the certificate PDF
    and the transcript CSV all show them as text."""
    from badges.models import Badge
    from tests.reviews.workflow import (
        TEACHER_EMAIL,
        all_levels,
        assignments_of,
        complete_submission,
        drain,
        reviewer,
        reviewer_client,
    )

    hostile_name = f"{FORMULA} {SCRIPT}"
    reviewer(seeded, "x1@example.org", "Brookside")
    reviewer(seeded, "x2@example.org", "Hillview")
    teacher_client, submission_id = complete_submission(seeded)
    with seeded.app_context():
        user = db.session.scalar(select(User).where(User.email == TEACHER_EMAIL))
        user.name = hostile_name
        db.session.commit()
    drain(seeded)
    for assignment_id, address in assignments_of(seeded, submission_id):
        client, headers = reviewer_client(seeded, address)
        page = client.get(f"/review/{assignment_id}").get_data(as_text=True)
        assert "<script>alert" not in page and "onerror" not in page
        response = client.post(
            f"/api/v1/reviews/assignments/{assignment_id}/submit",
            json={"levels": all_levels(seeded, submission_id, "Proficient", feedback=IMG)},
            headers=headers,
        )
        assert response.status_code == 200
    drain(seeded)
    with seeded.app_context():
        badge = db.session.scalar(select(Badge).where(Badge.submission_id == submission_id))
        assert badge is not None
        badge_id = badge.id

    # HTML: the educator's own views, with the name escaped, never raw markup.
    for path in ("/portfolio", f"/badges/{badge_id}", f"/submissions/{submission_id}"):
        page = teacher_client.get(path).get_data(as_text=True)
        for raw in (SCRIPT, "<img src=x"):
            at = page.find(raw)
            assert at < 0, (path, page[max(at - 300, 0) : at + 100])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in teacher_client.get(
        f"/badges/{badge_id}"
    ).get_data(as_text=True)

    # Mail: plain text only, so markup in it is never rendered.
    outbox = Path(seeded.config["MAIL_OUTBOX_PATH"])
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in outbox.glob("*.eml")
    ]
    assert messages
    for message in messages:
        assert [part.get_content_type() for part in message.walk()] == ["text/plain"]

    # PDF: the name is printed as text, markup and all (nothing was interpreted).
    pdf = teacher_client.get(f"/badges/{badge_id}/certificate.pdf")
    assert pdf.status_code == 200
    (tmp_path / "c.pdf").write_bytes(pdf.data)
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "<script>alert(1)</script>" in "".join(text.split()), text  # wrapped lines

    # CSV: the formula is neutralised (not starting a cell with = + - @).
    csv_text = teacher_client.get("/api/v1/transcripts/mine?format=csv").get_data(as_text=True)
    assert "HYPERLINK" in csv_text
    for line in csv_text.splitlines()[1:]:
        for cell in line.split(","):
            assert not cell.strip('"').startswith(("=", "+", "-", "@")), cell


def test_production_sends_hsts_and_a_strict_csp(tmp_path: Path, monkeypatch: Any) -> None:
    from core.app import create_app

    for name, value in {
        "MICROCRED_ENV": "production",
        "SECRET_KEY": "s" * 48,
        "DATABASE_URL": "postgresql://app@db.invalid/microcred",
        "REDIS_URL": "redis://cache.invalid:6379/0",
        "PUBLIC_BASE_URL": "https://badges.example.org",
        "MAIL_SERVER": "smtp.example.org",
        "BADGE_KEY_SECRET": "k" * 48,
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["SESSION_COOKIE_HTTPONLY"]
    response = app.test_client().get("/api/openapi.json")  # needs no database
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_secrets_never_reach_the_logs_or_the_audit_log(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    password = "hunter2 is a terrible passphrase"
    token = csrf_from(client, "/sign-up")
    signed_up = client.post(
        "/sign-up",
        data={
            "name": "Secretive",
            "email": "secret@example.org",
            "password": password,
            "password_confirm": password,
            "csrf_token": token,
        },
    )
    assert signed_up.status_code == 302
    client.post("/sign-out", data={"csrf_token": csrf_from(client, "/account")})
    for attempt in (password, "wrong " + password):
        client.post(
            "/sign-in",
            data={
                "email": "secret@example.org",
                "password": attempt,
                "csrf_token": csrf_from(client, "/sign-in"),
            },
        )
    created = client.post(
        "/api/v1/tokens",
        json={"name": "ci"},
        headers={"X-CSRFToken": csrf_from(client, "/account")},
    )
    assert created.status_code == 201
    secret = created.get_json()["token"]
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    with app.app_context():
        audit_text = " ".join(
            f"{event.before} {event.after}" for event in db.session.scalars(select(AuditEvent))
        )
    for value in (password, secret):
        assert value not in caplog.text
        assert value not in audit_text
