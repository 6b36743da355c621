"""Redis stopped and restarted mid-workflow, on a private Redis server the test owns.

Scores submitted while Redis is down are saved (the outbox keeps the decision job);
when Redis is back the relay moves it and the decision and badge follow. A Redis
restart that loses its queued jobs (no persistence) is caught by ``microcred
doctor`` and ``doctor --repair`` re-enqueues the lost work.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from badges.models import Badge
from core.doctor import run_doctor
from core.embedded_redis import EmbeddedRedis
from core.extensions import db
from core.jobs import relay_outbox
from evidence.models import Submission
from reviews.models import Decision, ReviewAssignment
from tests.conftest import free_port
from tests.faults.helpers import count, doctor_problems
from tests.reviews.workflow import (
    all_levels,
    complete_submission,
    drain,
    reviewer,
    reviewer_client,
)


@pytest.fixture
def private_redis(seeded: Flask, tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """The app switched to a Redis server of its own, at a stable port."""
    server = EmbeddedRedis(tmp_path / "redis", port=free_port(), persist=False)
    server.start()
    shared = seeded.config["REDIS_URL"]
    seeded.config["REDIS_URL"] = server.url
    try:
        yield server
    finally:
        seeded.config["REDIS_URL"] = shared
        server.stop()


def _assigned(app: Flask) -> tuple[int, list[tuple[int, str]]]:
    reviewer(app, "r1@example.org", "Brookside")
    reviewer(app, "r2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(app)
    drain(app)
    with app.app_context():
        pairs = [
            (a.id, a.reviewer.email)
            for a in db.session.scalars(
                select(ReviewAssignment).where(ReviewAssignment.submission_id == submission_id)
            )
        ]
    assert len(pairs) == 2
    return submission_id, pairs


def _submit_all(app: Flask, submission_id: int, pairs: list[tuple[int, str]]) -> list[float]:
    levels = all_levels(app, submission_id, "Proficient")
    clients = [reviewer_client(app, email) for _aid, email in pairs]
    seconds = []
    for (client, headers), (assignment_id, _email) in zip(clients, pairs, strict=True):
        started = time.monotonic()
        response = client.post(
            f"/api/v1/reviews/assignments/{assignment_id}/submit",
            json={"levels": levels},
            headers=headers,
        )
        seconds.append(time.monotonic() - started)
        assert response.status_code == 200, response.get_json()
    return seconds


def _outcome(app: Flask, submission_id: int) -> tuple[str, int, int]:
    with app.app_context():
        status = db.session.get(Submission, submission_id).status
    return (
        status,
        count(app, Decision, Decision.submission_id == submission_id),
        count(app, Badge, Badge.submission_id == submission_id),
    )


def test_redis_down_while_reviewers_submit_then_back(
    seeded: Flask, private_redis: EmbeddedRedis
) -> None:
    submission_id, pairs = _assigned(seeded)
    private_redis.stop()
    seconds = _submit_all(seeded, submission_id, pairs)
    assert max(seconds) < 10  # a short connect timeout, not a hang
    with seeded.app_context():
        rows = db.session.scalars(
            select(ReviewAssignment).where(ReviewAssignment.submission_id == submission_id)
        ).all()
        assert {row.status for row in rows} == {"submitted"}  # the scores are saved
        assert all(row.levels for row in rows)
    assert _outcome(seeded, submission_id) == ("in_review", 0, 0)
    seeded.config["DOCTOR_STALE_SECONDS"] = -60
    found = doctor_problems(seeded)
    assert "not moved to Redis" in found["outbox"][0]
    assert "Redis is unreachable" in found["failed-jobs"][0]

    private_redis.start()  # back, empty
    drain(seeded)  # the periodic relay and the workers
    assert _outcome(seeded, submission_id) == ("passed", 1, 1)
    assert doctor_problems(seeded) == {}


def test_redis_restart_that_loses_queued_jobs_is_repaired(
    seeded: Flask, private_redis: EmbeddedRedis
) -> None:
    submission_id, pairs = _assigned(seeded)
    _submit_all(seeded, submission_id, pairs)
    with seeded.app_context():
        relay_outbox()  # the decision jobs are in Redis, marked relayed in the outbox
    private_redis.stop()  # no persistence: the queued jobs are gone
    private_redis.start()
    drain(seeded)
    assert _outcome(seeded, submission_id) == ("in_review", 0, 0)  # nothing ran

    seeded.config["DOCTOR_STALE_SECONDS"] = -60  # the scores are "old enough" now
    found = doctor_problems(seeded)
    assert list(found) == ["pending-decisions"], found
    with seeded.app_context():
        report = run_doctor(seeded, repair=True)
    repairs = [line for check in report.checks for line in check.repairs]
    assert repairs == [f"enqueued a decision for attempt {submission_id}"]
    drain(seeded)
    assert _outcome(seeded, submission_id) == ("passed", 1, 1)
    assert doctor_problems(seeded) == {}
