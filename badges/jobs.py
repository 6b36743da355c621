"""RQ jobs for badges; each takes ids and is safe to run twice."""

from __future__ import annotations

from badges import certificates, services
from core.jobs import job


@job
def issue_badge_for_submission(submission_id: int) -> str | None:
    """Credential and certificate together; a retry finishes whatever is missing."""
    badge = services.issue_for_submission(submission_id)
    if badge is None:
        return None
    certificates.ensure_certificate(badge)
    for stack_badge in services.issue_stacks(badge.teacher):
        certificates.ensure_certificate(stack_badge)
    return badge.id
