"""RQ glue: queues, the transactional outbox, the job decorator, periodic jobs.

Work requested inside a request or a job is written to the outbox table in the
same transaction as the change that caused it (``enqueue``). Once that
transaction commits, ``relay_outbox`` moves the rows to RQ; if Redis is down the
rows wait and the periodic relay (and every later commit) tries again. Each
outbox row becomes exactly one RQ job with the deterministic id ``outbox-<id>``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from core.db_types import utcnow
from core.extensions import db
from core.models import OutboxMessage

log = logging.getLogger(__name__)

QUEUES = ("issuance", "default", "mail")
JOB_RESULT_TTL = 7 * 24 * 3600  # long enough that a re-run relay recognises the job
JOB_FAILURE_TTL = 30 * 24 * 3600

P = ParamSpec("P")
R = TypeVar("R")


# --- Redis and queues -------------------------------------------------------


def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis client (one per process and URL)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = app.config["REDIS_URL"]
    clients: dict[str, Redis] = app.extensions.setdefault("microcred_redis", {})
    if url not in clients:
        clients[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    return clients[url]


def get_queue(name: str = "default", app: Flask | None = None) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; known: {', '.join(QUEUES)}")
    return Queue(name, connection=redis_connection(app))


def import_dotted(name: str) -> Callable[..., Any]:
    module_name, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


# --- Outbox -----------------------------------------------------------------

_PENDING_KEY = "microcred_outbox_pending"
_COMMITTED_KEY = "microcred_outbox_committed"


def enqueue(
    func_name: str,
    *args: Any,
    queue: str = "default",
    job_id: str | None = None,
    **kwargs: Any,
) -> OutboxMessage:
    """Ask for ``func_name(*args, **kwargs)`` to run once the current transaction commits.

    ``func_name`` is a dotted path, so a lower layer can start a higher layer's job
    without importing it. Arguments must be JSON values (ids, not objects).
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    message = OutboxMessage(
        queue=queue, func_name=func_name, args=list(args), kwargs=kwargs, job_id=job_id
    )
    db.session.add(message)
    db.session.info[_PENDING_KEY] = True
    return message


@event.listens_for(Session, "after_commit")
def _mark_outbox_committed(session: Session) -> None:
    if session.info.pop(_PENDING_KEY, False):
        session.info[_COMMITTED_KEY] = True


@event.listens_for(Session, "after_rollback")
def _forget_outbox_pending(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def relay_if_committed() -> None:
    """Relay right away when the last commit wrote outbox rows (best effort)."""
    if db.session.info.pop(_COMMITTED_KEY, False):
        try:
            relay_outbox()
        except RedisError as exc:
            log.warning("outbox relay postponed, Redis unavailable: %s", exc)


def relay_outbox(limit: int = 500) -> int:
    """Move committed outbox rows to RQ; return how many were enqueued.

    A row is claimed with a conditional UPDATE (a row lock on PostgreSQL, the
    write lock on SQLite) so that concurrent relays never enqueue it twice. If
    the job already exists in Redis (enqueued before a crash lost the commit),
    the row is only marked.
    """
    pending = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.enqueued_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    ).all()
    db.session.commit()
    moved = 0
    for message_id in pending:
        claimed = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.enqueued_at.is_(None))
            .values(enqueued_at=utcnow(), relay_attempts=OutboxMessage.relay_attempts + 1)
        ).rowcount
        if not claimed:
            db.session.rollback()
            continue
        message = db.session.get(OutboxMessage, message_id)
        assert message is not None
        try:
            _push_to_rq(message)
        except RedisError as exc:
            db.session.rollback()
            _note_relay_failure(message_id, exc)
            raise
        db.session.commit()
        moved += 1
    return moved


def _push_to_rq(message: OutboxMessage) -> None:
    connection = redis_connection()
    if Job.exists(message.rq_job_id, connection=connection):
        return
    intervals = list(current_app.config["JOB_RETRY_INTERVALS"])
    get_queue(message.queue).enqueue(
        message.func_name,
        *message.args,
        job_id=message.rq_job_id,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        result_ttl=JOB_RESULT_TTL,
        failure_ttl=JOB_FAILURE_TTL,
        description=f"{message.func_name} (outbox {message.id})",
        **message.kwargs,
    )


def _note_relay_failure(message_id: int, exc: Exception) -> None:
    try:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(relay_attempts=OutboxMessage.relay_attempts + 1, last_error=str(exc)[:2000])
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def pending_outbox_count() -> int:
    return (
        db.session.scalar(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.enqueued_at.is_(None))
        )
        or 0
    )


# --- Running jobs -----------------------------------------------------------

_worker_app: Flask | None = None
_worker_pid: int | None = None


def set_worker_app(app: Flask) -> None:
    """The app that jobs run in when no app context is active (worker processes)."""
    global _worker_app, _worker_pid
    _worker_app, _worker_pid = app, os.getpid()


def _app_for_job() -> Flask:
    global _worker_app, _worker_pid
    if _worker_app is None:
        from core.app import create_app

        set_worker_app(create_app())
    assert _worker_app is not None
    if _worker_pid != os.getpid():
        # A forked work horse must not share the parent's database connections.
        with _worker_app.app_context():
            db.engine.dispose(close=False)
        _worker_pid = os.getpid()
    return _worker_app


def job(func: Callable[P, R]) -> Callable[P, R]:
    """Make ``func`` an RQ job: it runs in an app context, its outbox rows are
    relayed after it returns, and its session is cleaned up either way.
    Exceptions propagate so that RQ retries and, in the end, records them."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if has_app_context():
            return _run_in_context(func, *args, **kwargs)
        with _app_for_job().app_context():
            return _run_in_context(func, *args, **kwargs)

    return run


def _run_in_context(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        result = func(*args, **kwargs)
        db.session.commit()
        relay_if_committed()
        return result
    except Exception:
        db.session.rollback()
        raise


# --- Periodic jobs ----------------------------------------------------------


@dataclass(frozen=True)
class PeriodicJob:
    func_name: str
    queue: str = "default"
    interval: int | None = None
    cron: str | None = None


def register_periodic(app: Flask, periodic: PeriodicJob) -> None:
    """Domains call this from ``init_app`` to have RQ's cron scheduler run a job."""
    app.extensions.setdefault("microcred_periodic", []).append(periodic)


def periodic_jobs(app: Flask) -> list[PeriodicJob]:
    return list(app.extensions.get("microcred_periodic", []))


@job
def relay_outbox_job() -> int:
    """Periodic relay: picks up what a Redis outage left in the outbox."""
    return relay_outbox()


# --- Worker hooks -----------------------------------------------------------


def register_worker_hook(app: Flask, hook: Callable[[Flask], None]) -> None:
    """Domains call this from ``init_app`` to prepare a worker process: ``hook(app)``
    runs in the worker's main process when it starts and again before each job (so
    it must be cheap when there is nothing to do), never in a work horse."""
    app.extensions.setdefault("microcred_worker_hooks", []).append(hook)


def run_worker_hooks(app: Flask) -> None:
    for hook in app.extensions.get("microcred_worker_hooks", []):
        hook(app)


# --- Failed jobs (for the admin page) ---------------------------------------


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    func_name: str
    args: str
    error: str
    ended_at: datetime | None


def failed_jobs(limit: int = 100) -> list[FailedJob]:
    found: list[FailedJob] = []
    connection = redis_connection()
    for name in QUEUES:
        registry = FailedJobRegistry(name, connection=connection)
        for job_id in registry.get_job_ids(0, limit):
            rq_job = Job.fetch(job_id, connection=connection)
            result = rq_job.latest_result()
            error = (result.exc_string if result else None) or "(no traceback stored)"
            found.append(
                FailedJob(
                    id=job_id,
                    queue=name,
                    func_name=rq_job.func_name,
                    args=", ".join(repr(a) for a in rq_job.args),
                    error=error,
                    ended_at=rq_job.ended_at,
                )
            )
    return found


def requeue_failed(job_id: str) -> None:
    connection = redis_connection()
    for name in QUEUES:
        registry = FailedJobRegistry(name, connection=connection)
        if job_id in registry.get_job_ids():
            registry.requeue(job_id)
            return
    raise LookupError(job_id)
