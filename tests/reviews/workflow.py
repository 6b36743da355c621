"""A complete review set-up: a teacher's complete submission and qualified reviewers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts.models import OrganizationKind, Role
from accounts.services import get_or_create_organization
from core.extensions import db
from core.jobs import relay_outbox
from reviews.services import grant_qualification
from tests.conftest import csrf_from, make_user, run_jobs, sign_in
from tests.evidence.helpers import TeacherSession

TEACHER_NAME = "Zelda Quixote-Teacher"
TEACHER_EMAIL = "zelda.quixote@riverbend.example.org"


def organization(app: Flask, name: str) -> int:
    with app.app_context():
        org = get_or_create_organization(name, OrganizationKind.DISTRICT, "TN")
        db.session.commit()
        return org.id


def reviewer(app: Flask, email: str, org: str, *, scopes: tuple[str, ...] = ("udl",)) -> int:
    user_id = make_user(
        app,
        email,
        Role.REVIEWER,
        organization_id=organization(app, org),
        name=email.split("@")[0].title(),
    )
    with app.app_context():
        grant_qualification(None, user_id, scopes)
        db.session.commit()
    return user_id


def drain(app: Flask) -> None:
    """Relay the outbox and run jobs until nothing is left (jobs start jobs)."""
    for _ in range(5):
        with app.app_context():
            relay_outbox()
        if run_jobs(app) == 0:
            with app.app_context():
                if relay_outbox() == 0:
                    return
            run_jobs(app)


@dataclass
class Setup:
    app: Flask
    teacher_client: FlaskClient
    submission_id: int
    reviewers: dict[str, int] = field(default_factory=dict)


def complete_submission(app: Flask, code: str = "UDL-05") -> tuple[FlaskClient, int]:
    client = app.test_client()
    make_user(
        app,
        TEACHER_EMAIL,
        Role.TEACHER,
        name=TEACHER_NAME,
        organization_id=organization(app, "Riverbend District"),
    )
    assert sign_in(client, TEACHER_EMAIL).status_code == 302
    teacher = TeacherSession(client)
    submission = teacher.start(code)
    teacher.complete(submission["id"])
    assert teacher.submit(submission["id"]).status_code == 200
    return client, submission["id"]


def reviewer_client(app: Flask, email: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client, {"X-CSRFToken": csrf_from(client, "/reviewer")}


def assignments_of(app: Flask, submission_id: int) -> list[tuple[int, str]]:
    """(assignment id, reviewer email) of every review of the submission."""
    from reviews.models import ReviewAssignment

    with app.app_context():
        return [
            (row.id, row.reviewer.email)
            for row in db.session.scalars(
                select(ReviewAssignment).where(ReviewAssignment.submission_id == submission_id)
            )
        ]


def submit_all_reviews(app: Flask, submission_id: int, level: str = "Proficient") -> None:
    """Every assigned reviewer submits ``level`` on every criterion, through the API."""
    for assignment_id, email in assignments_of(app, submission_id):
        client, headers = reviewer_client(app, email)
        response = client.post(
            f"/api/v1/reviews/assignments/{assignment_id}/submit",
            json={"levels": all_levels(app, submission_id, level)},
            headers=headers,
        )
        assert response.status_code == 200, response.get_json()


def all_levels(app: Flask, submission_id: int, level: str, feedback: str = "") -> dict[str, Any]:
    from evidence.models import Submission

    with app.app_context():
        version = db.session.get(Submission, submission_id).credential.rubric_version
        return {
            c.key: {"level": level, "feedback": feedback or f"{c.key}: specific feedback"}
            for c in version.criteria
        }
