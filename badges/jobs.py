"""RQ jobs for badges; each takes ids and is safe to run twice."""

from __future__ import annotations

from badges import services
from core.jobs import job


@job
def issue_badge_for_submission(submission_id: int) -> str | None:
    badge = services.issue_for_submission(submission_id)
    return badge.id if badge else None
