"""Jobs that raise are retried, then land in the failed registry, visible to admins."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from core.extensions import db
from core.jobs import enqueue, failed_jobs
from tests.conftest import csrf_from, run_jobs


def test_failing_job_is_retried_then_recorded_and_requeued_by_admin(
    app: Flask, client: FlaskClient, signed_in
) -> None:
    with app.app_context():
        enqueue("tests.core.jobs_for_tests.always_fails", "district import")
        db.session.commit()
        from core.jobs import relay_outbox

        relay_outbox()
    assert run_jobs(app) == 0
    attempts = (Path(app.instance_path) / "attempts.txt").read_text().splitlines()
    # First run plus one retry per configured interval (two in the tests).
    assert attempts == ["district import"] * (1 + len(app.config["JOB_RETRY_INTERVALS"]))
    with app.app_context():
        [failed] = failed_jobs()
    assert failed.func_name == "tests.core.jobs_for_tests.always_fails"
    assert "deliberate failure: district import" in failed.error

    signed_in(Role.PROGRAM_ADMIN)
    page = client.get("/admin/jobs").get_data(as_text=True)
    assert "tests.core.jobs_for_tests.always_fails" in page
    assert "deliberate failure: district import" in page
    assert "Failed jobs" in client.get("/admin").get_data(as_text=True)

    token = csrf_from(client, "/admin/jobs")
    response = client.post(f"/admin/jobs/{failed.id}/requeue", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert failed_jobs() == []
    run_jobs(app)
    attempts = (Path(app.instance_path) / "attempts.txt").read_text().splitlines()
    # Queued again by hand, it runs once more (and fails again, visibly).
    assert len(attempts) == 1 + len(app.config["JOB_RETRY_INTERVALS"]) + 1
    with app.app_context():
        assert [job.id for job in failed_jobs()] == [failed.id]


def test_jobs_page_is_for_admins_only(app: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    assert client.get("/admin/jobs").status_code == 403
    token = csrf_from(client, "/portfolio")
    assert client.post("/admin/jobs/x/requeue", data={"csrf_token": token}).status_code == 403


def test_requeue_of_unknown_job_is_not_found(app: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.SITE_ADMIN)
    token = csrf_from(client, "/admin/jobs")
    assert client.post("/admin/jobs/nope/requeue", data={"csrf_token": token}).status_code == 404
