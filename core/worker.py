"""Worker processes: an RQ worker, and RQ's cron scheduler for periodic jobs."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from typing import Any

from flask import Flask
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.job import Job

from core.jobs import (
    QUEUES,
    get_queue,
    import_dotted,
    periodic_jobs,
    redis_connection,
    run_worker_hooks,
    set_worker_app,
)

log = logging.getLogger(__name__)


class HookedWorker(Worker):
    """RQ's forking worker that runs the domains' worker hooks (see
    :func:`core.jobs.register_worker_hook`) in its main process before each job."""

    def __init__(self, *args: Any, app: Flask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = app

    def execute_job(self, job: Job, queue: Queue) -> None:
        run_worker_hooks(self.app)
        super().execute_job(job, queue)


def run_worker(app: Flask, *, queues: tuple[str, ...] = QUEUES, burst: bool = False) -> bool:
    """Run one RQ worker until stopped (or, with ``burst``, until the queues are empty)."""
    set_worker_app(app)
    with app.app_context():
        connection = redis_connection()
        worker_queues = [get_queue(name) for name in queues]
    run_worker_hooks(app)
    worker = HookedWorker(worker_queues, connection=connection, app=app)
    # RQ's own scheduler moves retries with a back-off delay back onto the queues.
    return worker.work(burst=burst, with_scheduler=True, logging_level="INFO")


def build_cron_scheduler(app: Flask) -> CronScheduler:
    with app.app_context():
        scheduler = CronScheduler(
            connection=redis_connection(), name=f"microcred-cron-{os.getpid()}"
        )
        for periodic in periodic_jobs(app):
            scheduler.register(
                import_dotted(periodic.func_name),
                queue_name=periodic.queue,
                interval=periodic.interval,
                cron=periodic.cron,
                name=periodic.func_name,
            )
    return scheduler


def run_cron(app: Flask) -> None:
    build_cron_scheduler(app).start()


def _cron_child(config: dict[str, object] | None) -> None:
    from core.app import create_app

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    run_cron(create_app(config))


def start_cron_process(config: dict[str, object] | None = None) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(
        target=_cron_child, args=(config,), name="microcred-cron", daemon=True
    )
    process.start()
    return process
