"""RQ jobs of the review workflow; each takes ids and is safe to run twice."""

from __future__ import annotations

from core.db_types import utcnow
from core.extensions import db
from core.faults import fault_point
from core.jobs import job
from reviews import notifications, reliability, services


@job
def assign_reviewers(submission_id: int) -> int:
    return len(services.assign_reviewers(submission_id))


@job
def assign_waiting() -> int:
    """Retry every submission still short of reviewers (capacity may have appeared)."""
    made = 0
    for submission in services.awaiting_reviewer():
        made += len(services.assign_reviewers(submission.id))
        db.session.commit()
    return made


@job
def decide(submission_id: int) -> str | None:
    decision = services.decide(submission_id)
    fault_point("reviews.decide.before_commit")  # decided and flushed, not yet committed
    return decision.outcome if decision else None


@job
def check_deadlines() -> dict[str, int]:
    return services.check_deadlines()


@job
def send_digests() -> int:
    return notifications.send_digests()


@job
def refresh_reliability() -> int:
    """Recompute the reliability report and keep it as the latest snapshot."""
    snapshot = reliability.refresh_snapshot()
    return snapshot.report["overall"]["attempts"]


@job
def schedule_reliability_refresh() -> None:
    """Periodic: queue the refresh with a timeout that fits a million attempts (RQ's
    default of three minutes does not), once per hour."""
    reliability.request_refresh(f"reliability-{utcnow():%Y%m%d%H}")
