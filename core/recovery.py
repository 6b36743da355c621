"""Jobs left behind by a worker that died (SIGKILL, out of memory, power loss).

A job whose worker dies stays in RQ's StartedJobRegistry. RQ itself notices
only when the job's heartbeat expires (60-90 s after the last beat) *and* a
worker then runs its registry maintenance (at start and every 10 minutes);
it then retries the job if retries are left, or moves it to the failed
registry. ``recover_abandoned_jobs`` closes that gap: it runs RQ's own
clean-up, and it re-enqueues at once every started job whose worker is known
dead: its Redis registration is gone, or it ran on this host and its process
no longer exists. Every job here is idempotent, so running an abandoned job
again finishes what it began. It is a periodic job (every minute) and part
of ``microcred doctor --repair``.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import parse_composite_key
from rq.worker_registration import clean_worker_registry

from core.jobs import QUEUES, job, redis_connection


@dataclass(frozen=True)
class AbandonedJob:
    job_id: str
    queue: str
    func_name: str
    worker: str
    reason: str


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _dead_reason(connection: Redis, worker_name: str, cache: dict[str, str | None]) -> str | None:
    """Why the worker is known dead, or None while it may be alive."""
    if worker_name in cache:
        return cache[worker_name]
    reason: str | None = None
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name, connection)
    if worker is None:
        reason = "its worker is no longer registered"
    elif worker.hostname == socket.gethostname() and worker.pid and _process_gone(worker.pid):
        reason = f"its worker process {worker.pid} on this host has died"
        worker.register_death()  # no ghost worker in /healthz
    cache[worker_name] = reason
    return reason


def abandoned_jobs(connection: Redis | None = None) -> list[AbandonedJob]:
    """Started jobs whose worker is known dead (without changing anything)."""
    connection = connection or redis_connection()
    found: list[AbandonedJob] = []
    dead: dict[str, str | None] = {}
    for name in QUEUES:
        registry = StartedJobRegistry(name, connection=connection)
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection)
                worker_name = execution.worker_name
            except ValueError:  # the execution record expired with its heartbeat
                worker_name = ""
            reason = (
                _dead_reason(connection, worker_name, dead)
                if worker_name
                else "its execution record has expired"
            )
            if reason is None:
                continue
            try:
                func_name = Job.fetch(job_id, connection=connection).func_name
            except NoSuchJobError:
                func_name = "(job data expired)"
            found.append(AbandonedJob(job_id, name, func_name, worker_name, reason))
    return found


def recover_abandoned_jobs(connection: Redis | None = None) -> list[AbandonedJob]:
    """Re-enqueue the jobs of dead workers; return what was recovered."""
    connection = connection or redis_connection()
    for name in QUEUES:
        queue = Queue(name, connection=connection)
        StartedJobRegistry(name, connection=connection).cleanup()  # RQ's heartbeat expiry
        clean_worker_registry(queue)
    recovered = []
    for abandoned in abandoned_jobs(connection):
        registry = StartedJobRegistry(abandoned.queue, connection=connection)
        entries = _entries_of(connection, registry, abandoned.job_id)
        try:
            rq_job = Job.fetch(abandoned.job_id, connection=connection)
        except NoSuchJobError:
            if entries:
                connection.zrem(registry.key, *entries)
            continue
        with connection.pipeline() as pipeline:
            if entries:
                pipeline.zrem(registry.key, *entries)
            rq_job.set_status(JobStatus.QUEUED, pipeline=pipeline)
            Queue(abandoned.queue, connection=connection)._enqueue_job(rq_job, pipeline=pipeline)
            pipeline.execute()
        recovered.append(abandoned)
    return recovered


def _entries_of(connection: Redis, registry: StartedJobRegistry, job_id: str) -> list[bytes]:
    return [
        entry
        for entry in connection.zrange(registry.key, 0, -1)
        if parse_composite_key(entry.decode())[0] == job_id
    ]


@job
def recover_abandoned_jobs_job() -> int:
    """Periodic: put the jobs of dead workers back on their queues."""
    return len(recover_abandoned_jobs())
