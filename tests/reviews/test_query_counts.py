"""No N+1 queries: the four review pages (and their JSON twins) run the same number of
SQL statements with 3 submissions as with 30."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from accounts.models import Role
from core.db_types import utcnow
from core.extensions import db
from core.jobs import enqueue, relay_outbox
from credentials.models import MicroCredential
from evidence.models import Submission, SubmissionStatus
from reviews.models import AssignmentRole, AssignmentStatus, Decision, ReviewAssignment
from tests.conftest import make_user, run_jobs, sign_in
from tests.reviews.test_calibration import login

pytestmark = pytest.mark.parametrize("app", [{"LOGIN_RATE_LIMIT": "100 per minute"}], indirect=True)

PAGES = [
    ("reviewer", "/reviewer"),
    ("reviewer", "/api/v1/reviews/assignments"),
    ("teacher", "/portfolio"),
    ("teacher", "/api/v1/submissions"),
    ("admin", "/admin/reviews"),
    ("admin", "/api/v1/reviews/dashboard"),
    ("admin", "/admin/reliability"),
    ("admin", "/api/v1/reliability"),
]


@contextmanager
def counted_statements(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


class World:
    """One teacher, two reviewers and an admin; ``grow(n)`` adds n decided submissions
    (both reviews scored) plus a third as many (at least 3) in flight: one of each of
    in review, overdue and awaiting a reviewer."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.ann = make_user(app, "ann@example.org", Role.REVIEWER, name="Ann")
        self.ben = make_user(app, "ben@example.org", Role.REVIEWER, name="Ben")
        self.teacher = make_user(app, "tess@example.org", Role.TEACHER, name="Tess")
        self.made = 0
        with app.app_context():
            self.credentials = [
                (credential.id, credential.code, credential.rubric_version)
                for credential in db.session.scalars(
                    select(MicroCredential)
                    .where(MicroCredential.status == "published")
                    .order_by(MicroCredential.code)
                )
            ]

    def _submission(self, status: str, when: Any) -> Submission:
        credential_id, code, _version = self.credentials[self.made % len(self.credentials)]
        attempt = 1 + self.made // len(self.credentials)
        self.made += 1
        submission = Submission(
            teacher_id=self.teacher,
            credential_id=credential_id,
            credential_code=code,
            attempt=attempt,
            status=status,
            submitted_at=when - timedelta(days=4),
            decided_at=when if status == SubmissionStatus.PASSED else None,
        )
        db.session.add(submission)
        db.session.flush()
        return submission

    def _levels(self, submission: Submission) -> dict[str, Any]:
        version = submission.credential.rubric_version
        return {
            criterion.key: {
                "level": criterion.levels[-1].name,
                "score": criterion.levels[-1].score,
                "feedback": "",
            }
            for criterion in version.criteria
        }

    def _assignment(
        self, submission: Submission, reviewer: int, status: str, when: Any, due: Any
    ) -> ReviewAssignment:
        return ReviewAssignment(
            submission_id=submission.id,
            reviewer_id=reviewer,
            role=AssignmentRole.PRIMARY,
            status=status,
            assigned_at=when - timedelta(days=3),
            due_at=due,
            submitted_at=when if status == AssignmentStatus.SUBMITTED else None,
            rubric_version_id=submission.credential.rubric_version_id,
            levels=self._levels(submission) if status == AssignmentStatus.SUBMITTED else {},
        )

    def grow(self, count: int) -> None:
        now = utcnow()
        with self.app.app_context():
            for number in range(count):
                when = now - timedelta(days=number * 2, hours=1)
                submission = self._submission(SubmissionStatus.PASSED, when)
                levels = self._levels(submission)
                for reviewer in (self.ann, self.ben):
                    db.session.add(
                        self._assignment(
                            submission, reviewer, AssignmentStatus.SUBMITTED, when, when
                        )
                    )
                db.session.add(
                    Decision(
                        submission_id=submission.id,
                        outcome="passed",
                        method="agreement",
                        rubric_version_id=submission.credential.rubric_version_id,
                        final_levels=levels,
                        decided_at=when,
                    )
                )
            for number in range(max(3, count // 3)):
                submission = self._submission(SubmissionStatus.IN_REVIEW, now)
                if number % 3 == 2:
                    continue  # awaiting a reviewer
                due = now - timedelta(days=1) if number % 3 == 1 else now + timedelta(days=5)
                db.session.add(
                    self._assignment(submission, self.ann, AssignmentStatus.ASSIGNED, now, due)
                )
            db.session.commit()


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def statements_per_page(world: World, clients: dict[str, FlaskClient]) -> dict[str, int]:
    counts = {}
    for who, path in PAGES:
        clients[who].get(path)  # warm: first-request work (sessions, caches) is not data
        with counted_statements(world.app) as statements:
            response = clients[who].get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        counts[path] = len(statements)
    return counts


def test_review_pages_do_not_query_per_row(seeded: Flask) -> None:
    app = seeded
    world = World(app)
    clients = {
        "reviewer": signed_in(app, "ann@example.org"),
        "teacher": signed_in(app, "tess@example.org"),
        "admin": login(app, "admin@example.org", Role.PROGRAM_ADMIN),
    }

    def refreshed() -> None:
        """The report pages read the snapshot the periodic job stores."""
        with app.app_context():
            enqueue("reviews.jobs.refresh_reliability")
            db.session.commit()
            relay_outbox()
        assert run_jobs(app) >= 1

    world.grow(3)
    refreshed()
    few = statements_per_page(world, clients)
    world.grow(27)
    refreshed()
    many = statements_per_page(world, clients)

    assert many == few
    assert max(few.values()) <= 20, few

    # The pages show the data they were counted on (so the counts are not of empty pages).
    queue = clients["reviewer"].get("/api/v1/reviews/assignments")
    assert len(queue.get_json()) == 8 + 20  # open reviews, then the first 20 finished
    assert 'rel="next"' in queue.headers["Link"]
    portfolio = clients["teacher"].get("/api/v1/submissions").get_json()
    assert len(portfolio) == 30 + 12
    dashboard = clients["admin"].get("/api/v1/reviews/dashboard").get_json()
    assert dashboard["by_status"] == {"in_review": 12}
    # Decided in the last 30 days: days 0, 2, 4 of the first three, 0 to 28 of the rest.
    assert dashboard["decided_recently"] == {"passed": 3 + 15}
    # Awaiting: every submission in review has at most Ann, one of the two reviewers it needs.
    assert len(dashboard["overdue"]) == 4 and len(dashboard["awaiting"]) == 12
    report = clients["admin"].get("/api/v1/reliability").get_json()
    assert report["overall"]["attempts"] == 30
