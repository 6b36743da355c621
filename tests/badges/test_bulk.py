"""Bulk verification: a state verifier's CSV is checked row by row in a real RQ worker."""

from __future__ import annotations

import csv
import functools
import io
import socket
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import Role, User
from badges import bulk, bulk_views, services
from badges.models import Badge
from core.extensions import db
from core.jobs import get_queue, redis_connection
from core.models import OutboxMessage
from core.storage import get_storage, staging_dir
from tests.badges import test_issuance
from tests.conftest import csrf_from, make_user, run_jobs, sign_in
from tests.reviews import workflow

BASE = "http://microcred.test"  # PUBLIC_BASE_URL of the test app
FORMULA = '=HYPERLINK("http://x","click")'
issued = test_issuance.issued  # the fixture: (app, teacher client, a real issued badge)
# These tests sign in more people than the suite's login limit of 5 a minute allows.
pytestmark = pytest.mark.parametrize("app", [{"LOGIN_RATE_LIMIT": "100 per minute"}], indirect=True)


@pytest.fixture(autouse=True)
def _bulk_registered(app: Flask) -> None:
    if "badges_bulk" not in app.blueprints:
        bulk_views.register(app)


def _client(app: Flask, email: str, *roles: Role) -> tuple[FlaskClient, dict[str, str]]:
    make_user(app, email, *roles)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client, {"X-CSRFToken": csrf_from(client, "/catalog")}


def _verifier(app: Flask, email: str = "officer@tn.example.gov") -> tuple[FlaskClient, Any]:
    return _client(app, email, Role.STATE_VERIFIER)


def _upload(client: FlaskClient, headers: dict[str, str], content: bytes, name: str = "b.csv"):
    return client.post(
        "/api/v1/bulk-verifications",
        data={"file": (io.BytesIO(content), name)},
        headers=headers,
        content_type="multipart/form-data",
    )


def _csv(*rows: tuple[str, ...]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def _result(client: FlaskClient, bulk_id: str) -> dict[str, dict[str, str]]:
    response = client.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv")
    assert response.status_code == 200, response.data
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")))
    assert tuple(rows.fieldnames or ()) == bulk.RESULT_COLUMNS
    return {row["row"]: row for row in rows}


def _job_keys(app: Flask) -> list[bytes]:
    with app.app_context():
        return [
            key
            for key in redis_connection().keys(f"{bulk.KEY_PREFIX}*")
            if not key.decode().startswith((f"{bulk.KEY_PREFIX}user:", bulk.FILES_KEY))
        ]


@pytest.fixture
def two_badges(issued, monkeypatch) -> tuple[Flask, Badge, Badge]:
    """The ``issued`` badge (no license number on it) and a second educator's badge
    that carries her license number, earned through the same real workflow."""
    app, _teacher, first = issued
    monkeypatch.setattr(workflow, "TEACHER_EMAIL", "ada.byron@riverbend.example.org")
    monkeypatch.setattr(workflow, "TEACHER_NAME", "Ada Byron-King")
    monkeypatch.setattr(
        workflow, "make_user", functools.partial(make_user, license_number="TN-104233")
    )
    monkeypatch.setattr(test_issuance, "reviewer", lambda *_args, **_kwargs: None)  # they exist
    _teacher, submission_id = test_issuance._passed(app)
    second = test_issuance._badge(app, submission_id)
    assert '"licenseNumber": "TN-104233"' in second.credential_json
    return app, second, first


def test_rows_are_checked_against_real_badges(two_badges, monkeypatch) -> None:
    app, valid, to_revoke = two_badges
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    with app.test_request_context():
        services.revoke(
            db.session.get(User, admin_id),
            services.get_badge(to_revoke.id),
            "Evidence was not the educator's own",
        )
        db.session.commit()
    looked_up: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    progress: list[int] = []
    real_save = bulk._save

    def recording_save(bulk_id: str, expire_at: Any, /, **fields: Any) -> None:
        if "done" in fields:
            progress.append(int(fields["done"]))
        real_save(bulk_id, expire_at, **fields)

    monkeypatch.setattr(bulk, "_save", recording_save)
    monkeypatch.setattr(bulk, "PROGRESS_EVERY", 3)

    content = _csv(
        ("Badge", "NAME", "License Number", "notes"),
        (valid.id, "  ada   BYRON-king ", "tn-104233", "extra columns are ignored"),
        (f"{BASE}/badges/{valid.id}", "Someone Else", "TN-104233"),
        (valid.id.upper(), "Ada Byron-King", "TN-999999"),
        (to_revoke.id, test_issuance.TEACHER_NAME, ""),
        (f"https://evil.example/badges/{valid.id}", "Ada Byron-King", ""),
        ("", "", ""),
        ("\x07garbage;;DROP TABLE badge", "x", "y"),
        (f"{BASE}/badges/{valid.id}/credential.json", FORMULA, ""),
        (str(uuid.uuid4()), "Nobody", ""),
        (f"http://microcred.test@evil.example/badges/{valid.id}", "", ""),
    )
    client, headers = _verifier(app)
    started = _upload(client, headers, content, "renewals.csv")
    assert started.status_code == 202, started.get_json()
    body = started.get_json()
    assert body["status"] == "queued" and body["total"] == 10 and body["done"] == 0
    assert started.headers["Location"].endswith(body["status_url"])
    assert run_jobs(app) >= 1

    status = client.get(body["status_url"]).get_json()
    assert status["status"] == "done"
    assert status["done"] == status["total"] == 10 and status["percent"] == 100
    assert status["counts"] == {"valid": 1, "not valid": 5, "error": 4}
    assert status["rejection_codes"]["DUPLICATE"] == 3
    assert progress == [0, 0, 3, 6, 9, 10]  # queued, started, every 3 rows, finished

    rows = _result(client, body["id"])
    assert list(rows) == [str(n) for n in range(2, 12)]  # the header is row 1
    ok = rows["2"]
    assert ok["verdict"] == "valid" and ok["rejection_codes"] == ""
    assert ok["credential_title"] == "Options for Expression and Communication"
    assert ok["code"] == "UDL-05" and ok["hours"] == "15"
    assert ok["issued"] == valid.issued_at.strftime("%Y-%m-%d")
    assert ok["reason"].startswith("Valid:")
    assert rows["3"]["verdict"] == "not valid"
    assert rows["3"]["rejection_codes"].split() == ["NAME_MISMATCH", "DUPLICATE"]
    assert "Ada Byron-King" in rows["3"]["reason"]
    assert rows["4"]["rejection_codes"].split() == ["LICENSE_NUMBER_MISMATCH", "DUPLICATE"]
    assert rows["5"]["verdict"] == "not valid" and rows["5"]["rejection_codes"] == "REVOKED"
    assert rows["5"]["credential_title"] == "Options for Expression and Communication"
    for number in ("6", "7", "8", "11"):
        assert rows[number]["verdict"] == "error", rows[number]
        assert rows[number]["rejection_codes"] == ""
    assert "Not a badge of this service" in rows["6"]["reason"]
    assert rows["7"]["reason"] == "The row is empty."
    assert "Not a badge of this service" in rows["8"]["reason"]
    assert "Not a badge of this service" in rows["11"]["reason"]
    assert rows["9"]["name"] == "'" + FORMULA  # neutralised: a spreadsheet shows it as text
    assert rows["9"]["rejection_codes"].split() == ["NAME_MISMATCH", "DUPLICATE"]
    assert rows["10"]["verdict"] == "not valid"
    assert rows["10"]["rejection_codes"] == "INSUFFICIENT_DOCUMENTATION"
    assert not any("evil.example" in host for host in looked_up), looked_up
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row

    # The same job run again (a retry) leaves the same result.
    result_key = _result_key(app, body["id"])
    with app.app_context():
        assert bulk.run_bulk_verification(body["id"], _owner_id(app)) == result_key
    assert _result(client, body["id"]) == rows


def _owner_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "officer@tn.example.gov"))


def _result_key(app: Flask, bulk_id: str) -> str | None:
    with app.app_context():
        state = bulk._load(bulk_id)
        assert state is not None
        return state.result_key


def _finished_check(app: Flask) -> tuple[FlaskClient, dict[str, str], str]:
    """A finished check whose rows need no badges (every row is a row error)."""
    client, headers = _verifier(app)
    started = _upload(client, headers, _csv(("badge",), ("not-a-badge",), ("",)))
    assert started.status_code == 202, started.get_json()
    run_jobs(app)
    return client, headers, started.get_json()["id"]


def test_only_the_owner_or_an_admin_sees_a_check(app: Flask) -> None:
    owner, _headers, bulk_id = _finished_check(app)
    assert owner.get(f"/verifier/bulk/{bulk_id}").status_code == 200
    assert owner.get(f"/verifier/bulk/{bulk_id}/result.csv").status_code == 200
    other, _ = _verifier(app, "other.officer@de.example.gov")
    for path in (
        f"/api/v1/bulk-verifications/{bulk_id}",
        f"/api/v1/bulk-verifications/{bulk_id}/result.csv",
        f"/verifier/bulk/{bulk_id}",
        f"/verifier/bulk/{bulk_id}/result.csv",
        "/api/v1/bulk-verifications/" + "0" * 32,
        "/api/v1/bulk-verifications/..%2F..%2Fetc",
    ):
        assert other.get(path).status_code == 404, path
    assert bulk_id not in other.get("/verifier/bulk").get_data(as_text=True)
    admin, _ = _client(app, "site.admin@example.org", Role.SITE_ADMIN)
    assert admin.get(f"/api/v1/bulk-verifications/{bulk_id}").get_json()["status"] == "done"
    assert admin.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv").status_code == 200


def test_teachers_get_403_and_anonymous_users_must_sign_in(app: Flask) -> None:
    _owner, _headers, bulk_id = _finished_check(app)
    teacher, headers = _client(app, "teacher@example.org", Role.TEACHER)
    assert teacher.get("/verifier/bulk").status_code == 403
    assert teacher.get(f"/verifier/bulk/{bulk_id}").status_code == 403
    assert teacher.get(f"/api/v1/bulk-verifications/{bulk_id}").status_code == 403
    assert teacher.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv").status_code == 403
    assert _upload(teacher, headers, _csv(("badge",), ("x",))).status_code == 403
    anonymous = app.test_client()
    page = anonymous.get("/verifier/bulk")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
    assert anonymous.get(f"/verifier/bulk/{bulk_id}").status_code == 302
    assert anonymous.get(f"/api/v1/bulk-verifications/{bulk_id}").status_code == 401
    assert anonymous.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv").status_code == 401


def _nothing_queued(app: Flask) -> None:
    assert _job_keys(app) == []
    with app.app_context():
        assert not db.session.scalar(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.func_name == "badges.bulk.run_bulk_verification"
            )
        )
        assert not any(job.func_name.startswith("badges.bulk") for job in get_queue().jobs)
        assert list(staging_dir().iterdir()) == []  # refused uploads leave nothing behind


def test_a_file_without_a_badge_column_is_refused_and_starts_no_job(app: Flask) -> None:
    client, headers = _verifier(app)
    response = _upload(client, headers, _csv(("id", "name"), ("x", "y")))
    assert response.status_code == 422
    assert "no “badge” column" in response.get_json()["message"]
    assert "id, name" in response.get_json()["message"]
    for content, words in (
        (b"", "empty"),
        (_csv(("badge", "name")), "no badges"),
        ("badge\nJos\xe9\n".encode("latin-1"), "UTF-8"),
    ):
        refused = _upload(client, headers, content)
        assert refused.status_code == 422 and words in refused.get_json()["message"], content
    assert _upload(client, headers, b"", name="").status_code == 422  # no file chosen
    token = csrf_from(client, "/verifier/bulk")
    page = client.post(
        "/verifier/bulk",
        data={"csrf_token": token, "file": (io.BytesIO(_csv(("name",), ("x",))), "x.csv")},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'class="error-summary"' in html and 'href="#field-file"' in html
    assert 'aria-invalid="true"' in html and "error-field-file-1" in html
    _nothing_queued(app)


def test_too_large_and_too_long_files_are_refused_with_the_limit(app: Flask) -> None:
    client, headers = _verifier(app)
    filler = b"badge,name\n" + b"x" * bulk.MAX_BYTES
    response = _upload(client, headers, filler)
    assert response.status_code == 413
    assert "5 MiB" in response.get_json()["message"]
    token = csrf_from(client, "/verifier/bulk")
    page = client.post(
        "/verifier/bulk",
        data={"csrf_token": token, "file": (io.BytesIO(filler), "big.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413 and "larger than 5 MiB" in page.get_data(as_text=True)
    # Past the service-wide request limit the body is refused unread, with the same message.
    huge = b"badge\n" + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    refused = _upload(client, headers, huge)
    assert refused.status_code == 413 and "5 MiB" in refused.get_json()["message"]
    page = client.post(
        "/verifier/bulk",
        data={"csrf_token": token, "file": (io.BytesIO(huge), "huge.csv")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 413 and "larger than 5 MiB" in page.get_data(as_text=True)
    rows = b"badge\n" + b"x\n" * (bulk.MAX_ROWS + 1)
    too_long = _upload(client, headers, rows)
    assert too_long.status_code == 422 and "5,000 rows" in too_long.get_json()["message"]
    _nothing_queued(app)


def test_the_pages_from_upload_to_results(app: Flask) -> None:
    client, _headers = _verifier(app)
    form = client.get("/verifier/bulk").get_data(as_text=True)
    assert '<label for="field-file">' in form and 'aria-describedby="hint-field-file"' in form
    assert "/verifier/bulk/example.csv" in form
    example = client.get("/verifier/bulk/example.csv")
    assert example.mimetype == "text/csv"
    assert example.get_data(as_text=True).splitlines()[0] == "badge,name,license_number"
    token = csrf_from(client, "/verifier/bulk")
    # A semicolon-separated export with a byte order mark, as some spreadsheets write it.
    content = "\ufeffBADGE;Name\r\nnot-a-badge;X\r\n;\r\n".encode()
    started = client.post(
        "/verifier/bulk",
        data={"csrf_token": token, "file": (io.BytesIO(content), "export.csv")},
        content_type="multipart/form-data",
    )
    assert started.status_code == 303
    status_path = started.headers["Location"]
    waiting = client.get(status_path).get_data(as_text=True)
    assert '<label for="bulk-progress">' in waiting and "<progress" in waiting
    assert 'aria-live="polite"' in waiting and "data-bulk-status-url=" in waiting
    assert "Reload to see the latest progress" in waiting and "0%" in waiting
    assert 'http-equiv="refresh"' not in waiting
    assert "js/progress.js" in waiting
    assert "export.csv" in client.get("/verifier/bulk").get_data(as_text=True)
    run_jobs(app)
    done = client.get(status_path).get_data(as_text=True)
    assert "<progress" not in done
    assert '<th scope="col">' in done and '<th scope="row">Error</th><td>2</td>' in done
    result_link = f"{status_path}/result.csv"
    assert result_link in done
    result = client.get(result_link)
    assert result.status_code == 200 and result.mimetype == "text/csv"
    assert result.headers["Cache-Control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(result.data.decode("utf-8-sig"))))
    assert [row["verdict"] for row in rows] == ["error", "error"]
    assert rows[0]["badge"] == "not-a-badge"
    assert client.get("/static/js/progress.js").status_code == 200


def test_the_result_is_not_served_before_the_check_is_done(app: Flask) -> None:
    client, headers = _verifier(app)
    bulk_id = _upload(client, headers, _csv(("badge",), ("x",))).get_json()["id"]
    response = client.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv")
    assert response.status_code == 409


def test_a_check_that_keeps_failing_says_so_and_lands_in_the_failed_registry(app: Flask) -> None:
    client, headers = _verifier(app)
    bulk_id = _upload(client, headers, _csv(("badge",), ("x",))).get_json()["id"]
    with app.app_context():
        state = bulk._load(bulk_id)
        assert state is not None
        get_storage().delete(state.input_key)  # e.g. the storage lost it
    run_jobs(app)
    status = client.get(f"/api/v1/bulk-verifications/{bulk_id}").get_json()
    assert status["status"] == "failed" and "Upload the file again" in status["error"]
    assert "The check did not finish" in client.get(f"/verifier/bulk/{bulk_id}").get_data(
        as_text=True
    )
    with app.app_context():
        assert get_queue().failed_job_registry.count == 1


def test_stored_files_are_deleted_after_a_week(app: Flask, monkeypatch) -> None:
    client, _headers, bulk_id = _finished_check(app)
    with app.app_context():
        state = bulk._load(bulk_id)
        assert state is not None and state.result_key is not None
        storage = get_storage()
        assert storage.exists(state.result_key) and not storage.exists(state.input_key)
        get_queue().enqueue("badges.bulk.delete_expired_files")
    run_jobs(app)
    with app.app_context():
        assert storage.exists(state.result_key)  # not yet
    later = state.expires + timedelta(seconds=bulk.FILE_GRACE + 1)
    monkeypatch.setattr(bulk, "utcnow", lambda: later)
    with app.app_context():
        get_queue().enqueue("badges.bulk.delete_expired_files")
    run_jobs(app)
    with app.app_context():
        assert not storage.exists(state.result_key)
        assert redis_connection().zcard(bulk.FILES_KEY) == 0
    assert client.get(f"/api/v1/bulk-verifications/{bulk_id}/result.csv").status_code == 404


def test_the_api_is_documented(app: Flask) -> None:
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/bulk-verifications"]
    assert "get" in paths["/api/v1/bulk-verifications/{bulk_id}"]
    assert "get" in paths["/api/v1/bulk-verifications/{bulk_id}/result.csv"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
        ("Maria Lopez", "Maria Lopez"),
        ("", ""),
    ],
)
def test_cells_are_neutralised(text: str, expected: str) -> None:
    assert bulk.neutralise(text) == expected


def test_only_ids_and_addresses_of_this_service_are_looked_up(app: Flask) -> None:
    badge_id = str(uuid.uuid4())
    with app.app_context():
        assert bulk.badge_id_from(badge_id.upper()) == badge_id
        assert bulk.badge_id_from(f"{BASE}/badges/{badge_id}") == badge_id
        assert bulk.badge_id_from(f"https://MICROCRED.test/badges/{badge_id}/") == badge_id
        for text in (
            f"https://evil.example/badges/{badge_id}",
            f"http://microcred.test@evil.example/badges/{badge_id}",
            f"http://evil.example/?u={BASE}/badges/{badge_id}",
            f"ftp://microcred.test/badges/{badge_id}",
            f"{BASE}/other/{badge_id}",
            f"see {badge_id}",
            "http://[::1",
            "not a badge",
        ):
            assert bulk.badge_id_from(text) is None, text
