"""The transactional outbox: work asked for while Redis is down is not lost,
and reaches RQ exactly once when Redis is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.embedded_redis import EmbeddedRedis
from core.extensions import db
from core.jobs import enqueue, pending_outbox_count, relay_outbox
from core.models import OutboxMessage
from tests.conftest import csrf_from, free_port, make_user, run_jobs


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "own-redis", port=free_port(), persist=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_on_own_redis(app: Flask, own_redis: EmbeddedRedis) -> Iterator[Flask]:
    shared_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = own_redis.url
    yield app
    app.config["REDIS_URL"] = shared_url


def _mail_files(app: Flask) -> list[Path]:
    return sorted(Path(app.config["MAIL_OUTBOX_PATH"]).glob("*.eml"))


def test_job_requested_while_redis_is_down_runs_once_when_it_is_back(
    app_on_own_redis: Flask, own_redis: EmbeddedRedis
) -> None:
    app = app_on_own_redis
    make_user(app, "teacher@example.org")
    client: FlaskClient = app.test_client()
    token = csrf_from(client, "/password/forgot")

    own_redis.stop()
    response = client.post(
        "/password/forgot", data={"csrf_token": token, "email": "teacher@example.org"}
    )
    # The person gets the normal answer; the mail waits in the outbox.
    assert response.status_code == 302
    with app.app_context():
        assert pending_outbox_count() == 1
        message = db.session.query(OutboxMessage).one()
        assert message.enqueued_at is None
        assert "Connection" in (message.last_error or "") or message.relay_attempts >= 1

    own_redis.start()
    with app.app_context():
        assert relay_outbox() == 1  # what the periodic relay job does
        assert relay_outbox() == 0  # and doing it again moves nothing
        assert pending_outbox_count() == 0
    assert run_jobs(app) == 1
    assert len(_mail_files(app)) == 1
    with app.app_context():
        assert relay_outbox() == 0
    assert run_jobs(app) == 0
    assert len(_mail_files(app)) == 1


def test_relay_does_not_enqueue_a_job_that_already_reached_redis(app: Flask) -> None:
    """A crash after the push but before the commit leaves the row pending; the
    next relay must recognise the job instead of queuing it a second time."""
    with app.app_context():
        message = enqueue("core.mail.deliver_mail", "a@example.org", "Hi", "Body", queue="mail")
        db.session.commit()
        from core.jobs import _push_to_rq  # the push, without the commit that follows

        _push_to_rq(db.session.get(OutboxMessage, message.id))
        assert relay_outbox() == 1
    assert run_jobs(app) == 1
    assert len(_mail_files(app)) == 1


def test_rolled_back_work_is_never_enqueued(app: Flask) -> None:
    with app.app_context():
        enqueue("core.mail.deliver_mail", "a@example.org", "Hi", "Body", queue="mail")
        db.session.rollback()
        assert pending_outbox_count() == 0
        assert relay_outbox() == 0
    assert run_jobs(app) == 0


def test_unknown_queue_is_refused(app: Flask) -> None:
    with app.app_context(), pytest.raises(ValueError, match="unknown queue"):
        enqueue("core.mail.deliver_mail", queue="nowhere")
