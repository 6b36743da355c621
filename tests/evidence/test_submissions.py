"""Submissions: lifecycle, the pre-check job, attempts, stale tabs, privacy."""

from __future__ import annotations

import io
import json
import zipfile

from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from core.extensions import db
from core.jobs import relay_outbox
from evidence.models import Submission, SubmissionStatus
from tests.conftest import csrf_from, make_user, run_jobs, sign_in
from tests.evidence.helpers import TeacherSession, pdf_bytes, png_bytes, words


def _run_precheck(app: Flask) -> None:
    with app.app_context():
        relay_outbox()
    run_jobs(app)


def _set_status(app: Flask, submission_id: int, status: SubmissionStatus) -> None:
    """Stand-in for the reviewers' decision, which the reviews domain makes."""
    with app.app_context():
        db.session.get(Submission, submission_id).status = status
        db.session.commit()


def test_incomplete_submission_comes_back_with_reasons(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    teacher.text(submission["id"], "P1", words(400))  # over the 300-word limit
    teacher.upload(submission["id"], "A2", "photo.png", png_bytes())  # no alt text, only 1 of 3
    assert teacher.submit(submission["id"]).get_json()["status"] == "submitted"
    _run_precheck(seeded)
    checked = teacher.get(submission["id"])
    assert checked["status"] == "incomplete"
    messages = [p["message"] for p in checked["precheck_problems"]]
    assert any("400 words; the limit is 300" in m for m in messages)
    assert any(m.startswith("P2") and "add some evidence" in m for m in messages)
    assert any(m.startswith("A2") and "at least 3 items" in m for m in messages)
    assert any("alt text" in m for m in messages)
    assert any(m.startswith("R1") for m in messages)
    page = client.get(f"/submissions/{submission['id']}").get_data(as_text=True)
    assert "something is missing" in page and "400 words; the limit is 300" in page
    # Incomplete does not count as an attempt, and the teacher can fix and resubmit.
    assert teacher.text(submission["id"], "P2", "Goal " + words(20)).status_code == 201


def test_complete_submission_goes_to_review(seeded: Flask, client: FlaskClient, signed_in) -> None:
    from evidence.signals import submission_complete

    received: list[int] = []

    def _listener(_sender: object, submission_id: int) -> None:
        received.append(submission_id)

    submission_complete.connect(_listener)
    try:
        signed_in(Role.TEACHER)
        teacher = TeacherSession(client)
        submission = teacher.start()
        teacher.complete(submission["id"])
        assert teacher.submit(submission["id"]).status_code == 200
        _run_precheck(seeded)
        _run_precheck(seeded)  # a second run changes nothing
    finally:
        submission_complete.disconnect(_listener)
    checked = teacher.get(submission["id"])
    assert checked["status"] == "in_review" and checked["precheck_problems"] == []
    assert received == [submission["id"]]
    # In review: no more changes, no withdrawal.
    assert teacher.text(submission["id"], "P1", "more").status_code == 409
    assert (
        client.post(
            f"/api/v1/submissions/{submission['id']}/withdraw", headers=teacher.headers
        ).status_code
        == 409
    )


def test_privacy_attestation_is_required(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    response = client.post(
        f"/api/v1/submissions/{submission['id']}/submit",
        json={"privacy_attested": False, "lock_version": submission["lock_version"]},
        headers=teacher.headers,
    )
    assert response.status_code == 422
    assert "privacy_attested" in response.get_json()["errors"]
    assert teacher.get(submission["id"])["status"] == "draft"


def test_two_tabs_the_stale_one_gets_409(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    opened = submission["lock_version"]
    first = client.post(
        f"/api/v1/submissions/{submission['id']}/items/text",
        json={"part_key": "P1", "text": "Tab one", "lock_version": opened},
        headers=teacher.headers,
    )
    assert first.status_code == 201
    second = client.post(
        f"/api/v1/submissions/{submission['id']}/items/text",
        json={"part_key": "P1", "text": "Tab two", "lock_version": opened},
        headers=teacher.headers,
    )
    assert second.status_code == 409
    assert "another tab" in second.get_json()["message"]
    texts = [i["text_html"] for i in teacher.get(submission["id"])["items"]]
    assert texts == ["<p>Tab one</p>"]
    # The page form carries the version too.
    page = client.post(
        f"/submissions/{submission['id']}/text",
        data={
            "csrf_token": teacher.headers["X-CSRFToken"],
            "part_key": "P1",
            "text": "Old tab",
            "lock_version": str(opened),
        },
    )
    assert page.status_code == 409
    assert "Reload to see the latest version" in page.get_data(as_text=True)


def test_rich_text_is_sanitized_and_counted(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    html = (
        '<p onclick="steal()">Three <strong>small</strong> words</p><script>alert(1)</script>'
        '<a href="javascript:alert(1)">x</a><img src=x onerror=alert(1)>'
    )
    item = teacher.text(submission["id"], "P1", html).get_json()
    assert "script" not in item["text_html"] and "onclick" not in item["text_html"]
    assert "javascript:" not in item["text_html"] and "<img" not in item["text_html"]
    assert "<strong>small</strong>" in item["text_html"]
    assert item["word_count"] == 4
    assert teacher.link(submission["id"], "A1", "javascript:alert(1)").status_code == 422
    assert teacher.link(submission["id"], "A1", "https://user:pw@example.org/x").status_code == 422
    assert teacher.link(submission["id"], "P1", "https://example.org/").status_code == 415


def test_attempts_carry_evidence_forward_and_are_limited(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    first = teacher.start("MTSS-01")
    teacher.text(first["id"], "P1", "First attempt context")
    # One attempt open at a time.
    again = client.post("/api/v1/submissions", json={"code": "MTSS-01"}, headers=teacher.headers)
    assert again.status_code == 409
    _set_status(seeded, first["id"], SubmissionStatus.NOT_YET)
    second = teacher.start("MTSS-01")
    assert second["attempt"] == 2
    assert [i["text_html"] for i in second["items"]] == ["<p>First attempt context</p>"]
    _set_status(seeded, second["id"], SubmissionStatus.NOT_YET)
    third = teacher.start("MTSS-01")
    _set_status(seeded, third["id"], SubmissionStatus.NOT_YET)
    refused = client.post("/api/v1/submissions", json={"code": "MTSS-01"}, headers=teacher.headers)
    assert refused.status_code == 422
    assert "All 3 attempts" in refused.get_json()["message"]


def test_prerequisites_and_retired_credentials(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    blocked = client.post("/api/v1/submissions", json={"code": "MTSS-03"}, headers=teacher.headers)
    assert blocked.status_code == 422
    assert "MTSS-02" in blocked.get_json()["message"]
    draft = teacher.start("UDL-01")
    with seeded.app_context():
        from credentials.services import retire

        retire("UDL-01")
        db.session.commit()
    refused = teacher.submit(draft["id"])
    assert refused.status_code == 409 and "retired" in refused.get_json()["message"]
    assert (
        client.post(
            "/api/v1/submissions", json={"code": "UDL-01"}, headers=teacher.headers
        ).status_code
        == 404
    )


def test_other_teachers_get_404_everywhere(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER, email="owner@example.org")
    owner = TeacherSession(client)
    submission = owner.start()
    item = owner.upload(submission["id"], "A1", "plan.pdf", pdf_bytes()).get_json()

    other = seeded.test_client()
    make_user(seeded, "other@example.org", Role.TEACHER)
    sign_in(other, "other@example.org")
    headers = {"X-CSRFToken": csrf_from(other, "/portfolio")}
    sid, iid = submission["id"], item["id"]
    assert other.get(f"/api/v1/submissions/{sid}").status_code == 404
    assert other.get(f"/submissions/{sid}").status_code == 404
    assert other.get(f"/api/v1/evidence-items/{iid}/file").status_code == 404
    assert other.get(f"/evidence/items/{iid}/download").status_code == 404
    for guess in range(iid + 1, iid + 5):
        assert other.get(f"/api/v1/evidence-items/{guess}/file").status_code == 404
    assert (
        other.post(
            f"/api/v1/submissions/{sid}/submit",
            json={"privacy_attested": True, "lock_version": 1},
            headers=headers,
        ).status_code
        == 404
    )
    assert (
        other.post(
            f"/api/v1/submissions/{sid}/items/text",
            json={"part_key": "P1", "text": "x", "lock_version": 1},
            headers=headers,
        ).status_code
        == 404
    )
    assert other.delete(f"/api/v1/submissions/{sid}", headers=headers).status_code == 404
    # An admin can see it; an anonymous visitor cannot.
    admin = seeded.test_client()
    make_user(seeded, "admin@example.org", Role.PROGRAM_ADMIN)
    sign_in(admin, "admin@example.org")
    assert admin.get(f"/api/v1/evidence-items/{iid}/file").status_code == 200
    assert seeded.test_client().get(f"/api/v1/evidence-items/{iid}/file").status_code == 401
    # A reviewer with no assignment cannot.
    reviewer = seeded.test_client()
    make_user(seeded, "reviewer@example.org", Role.REVIEWER)
    sign_in(reviewer, "reviewer@example.org")
    assert reviewer.get(f"/api/v1/evidence-items/{iid}/file").status_code == 404
    assert owner.get(sid)["items"][0]["id"] == iid  # untouched


def test_export_and_delete_draft(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    content = pdf_bytes("my plan")
    stored = teacher.upload(submission["id"], "A1", "plan.pdf", content).get_json()["file"]
    teacher.text(submission["id"], "P1", "Context")
    export = client.get("/account/export")
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.data)) as archive:
        summary = json.loads(archive.read("microcred-export.json"))
        assert summary["submissions"][0]["credential_code"] == "UDL-05"
        [name] = [n for n in archive.namelist() if n.startswith("files/")]
        assert archive.read(name) == content
    deleted = client.delete(f"/api/v1/submissions/{submission['id']}", headers=teacher.headers)
    assert deleted.status_code == 204
    from pathlib import Path

    assert not list(Path(seeded.config["STORAGE_PATH"]).rglob(stored["sha256"]))
    assert client.get("/api/v1/submissions").get_json() == []


def test_portfolio_and_start_from_the_catalog(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    token = csrf_from(client, "/catalog/IPL-01")
    response = client.post("/submissions", data={"csrf_token": token, "code": "IPL-01"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Strengths-Based Learner Profiles" in page and "Protect student privacy" in page
    portfolio = client.get("/portfolio").get_data(as_text=True)
    assert "IPL-01" in portfolio and "Draft" in portfolio
    assert "Inclusive Personalized Learning Designer" in portfolio  # stack progress


def test_retention_removes_old_evidence_files_but_keeps_the_record(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    from datetime import timedelta
    from pathlib import Path

    from core.db_types import utcnow
    from core.jobs import enqueue

    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    stored = teacher.upload(submission["id"], "A1", "plan.pdf", pdf_bytes()).get_json()["file"]
    _set_status(seeded, submission["id"], SubmissionStatus.NOT_YET)
    seeded.config["EVIDENCE_RETENTION_DAYS"] = 30
    with seeded.app_context():
        row = db.session.get(Submission, submission["id"])
        row.updated_at = utcnow() - timedelta(days=31)
        db.session.commit()
        enqueue("evidence.jobs.purge_expired_evidence")
        db.session.commit()
    _run_precheck(seeded)  # relays and runs the queued job
    assert not list(Path(seeded.config["STORAGE_PATH"]).rglob(stored["sha256"]))
    kept = teacher.get(submission["id"])
    assert kept["status"] == "not_yet"
    assert "removed after the retention period" in kept["items"][0]["title"]
