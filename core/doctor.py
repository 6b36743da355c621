"""``microcred doctor``: check the invariants of a live instance and report problems.

Core checks the audit chain, the outbox and the job registries; each domain
registers its own checks (``core.registry.register_doctor_check``), since core
may not import the domains. ``--repair`` runs each check's safe repair (all of
them re-enqueue idempotent work; none edits a record) and checks again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app
from redis.exceptions import RedisError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from core.audit import verify_chain
from core.db_types import utcnow
from core.extensions import db
from core.jobs import QUEUES, redis_connection, relay_if_committed, relay_outbox
from core.models import OutboxMessage
from core.recovery import abandoned_jobs, recover_abandoned_jobs
from core.registry import DoctorCheck, doctor_checks

DEFAULT_STALE_SECONDS = 300


def stale_cutoff() -> datetime:
    """Work waiting longer than this (``DOCTOR_STALE_SECONDS``, 5 minutes) is stuck,
    not merely in flight."""
    seconds = int(current_app.config.get("DOCTOR_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    return utcnow() - timedelta(seconds=seconds)


@dataclass
class CheckOutcome:
    name: str
    description: str
    problems: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class DoctorReport:
    checks: list[CheckOutcome]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problem_count(self) -> int:
        return sum(len(check.problems) for check in self.checks)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "problems": self.problem_count,
            "checks": [{**asdict(check), "ok": check.ok} for check in self.checks],
        }


# --- Core checks ------------------------------------------------------------------------------


def _audit_chain() -> list[str]:
    report = verify_chain()
    return [f"audit chain: {problem}" for problem in report.problems]


def _outbox_backlog() -> list[str]:
    cutoff = stale_cutoff()
    rows = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.enqueued_at.is_(None), OutboxMessage.created_at < cutoff
        )
    ).one()
    count, oldest = rows
    if not count:
        return []
    return [
        f"{count} outbox job(s) not moved to Redis, the oldest since {oldest:%Y-%m-%d %H:%M} UTC "
        "(is Redis reachable and is `microcred cron` running?)"
    ]


def _relay_outbox() -> list[str]:
    moved = relay_outbox()
    return [f"relayed {moved} waiting outbox job(s) to Redis"] if moved else []


def _failed_jobs() -> list[str]:
    connection = redis_connection()
    problems = []
    for name in QUEUES:
        for job_id in FailedJobRegistry(name, connection=connection).get_job_ids():
            try:
                func_name = Job.fetch(job_id, connection=connection).func_name
            except Exception:  # the job's data expired; the id is still worth showing
                func_name = "(job data expired)"
            problems.append(
                f"job {job_id} ({func_name}) failed on queue {name}; see Failed jobs in the "
                "admin pages, fix the cause, then requeue it"
            )
    return problems


def _abandoned_jobs() -> list[str]:
    return [
        f"job {a.job_id} ({a.func_name}) on queue {a.queue} was abandoned: {a.reason}"
        for a in abandoned_jobs()
    ]


def _recover_jobs() -> list[str]:
    return [
        f"re-enqueued abandoned job {a.job_id} ({a.func_name})" for a in recover_abandoned_jobs()
    ]


CORE_CHECKS = (
    DoctorCheck(
        "audit-chain", "every audit event matches the hash chain, none missing", _audit_chain
    ),
    DoctorCheck(
        "outbox",
        "no job waits in the outbox (not yet in Redis) longer than the stale limit",
        _outbox_backlog,
        _relay_outbox,
    ),
    DoctorCheck("failed-jobs", "no job in RQ's failed registries", _failed_jobs),
    DoctorCheck(
        "abandoned-jobs",
        "no started job belongs to a worker that has died",
        _abandoned_jobs,
        _recover_jobs,
    ),
)


def all_checks(app: Flask) -> list[DoctorCheck]:
    return [*CORE_CHECKS, *doctor_checks(app)]


def _run_one(check: DoctorCheck, *, repair: bool) -> CheckOutcome:
    outcome = CheckOutcome(check.name, check.description)
    try:
        if repair and check.repair is not None:
            outcome.repairs = check.repair()
            db.session.commit()
        outcome.problems = check.run()
    except RedisError as exc:
        db.session.rollback()
        outcome.problems = [f"Redis is unreachable, so this could not be checked: {exc}"]
    db.session.rollback()  # checks only read; never keep a transaction open
    return outcome


def run_doctor(app: Flask, *, repair: bool = False, only: tuple[str, ...] = ()) -> DoctorReport:
    """Run every check (or those named in ``only``) inside ``app``'s context."""
    checks = [c for c in all_checks(app) if not only or c.name in only]
    report = DoctorReport([_run_one(check, repair=repair) for check in checks])
    if repair:
        relay_if_committed()  # what the repairs enqueued goes to Redis now
    return report


def format_report(report: DoctorReport) -> str:
    lines = []
    for check in report.checks:
        for repair in check.repairs:
            lines.append(f"REPAIRED {check.name}: {repair}")
        if check.ok:
            lines.append(f"OK       {check.name}: {check.description}")
        for problem in check.problems:
            lines.append(f"PROBLEM  {check.name}: {problem}")
    if report.ok:
        lines.append(f"All {len(report.checks)} checks passed.")
    else:
        lines.append(f"{report.problem_count} problem(s) found in {len(report.checks)} checks.")
    return "\n".join(lines)
