"""RQ jobs for badges; each takes ids and is safe to run twice."""

from __future__ import annotations

from badges import certificates, services
from core.jobs import job


@job
def issue_badge_for_submission(submission_id: int) -> str | None:
    """Credential and certificate together; a retry finishes whatever is missing.

    With a render helper (see :mod:`badges.render_helper`) the certificate is made
    alongside: its QR code while the badge is drafted, its layout while the
    credential is signed; the signed credential is embedded when the PDF is written.
    """
    badge_id = services.new_badge_id()
    with certificates.begin_certificate(badge_id) as pending:
        draft = services.draft_for_submission(submission_id, badge_id)
        if draft is None:
            return None
        laid_out = None
        if isinstance(draft, services.Draft):
            certificates.lay_out_draft(draft, pending)
            badge = services.complete(draft)
            laid_out = pending if badge is draft.badge else None  # else another run won
        else:
            badge = draft
        if laid_out is None:
            pending.close()  # the helper makes one certificate at a time
        stack_badges = services.issue_stacks(badge.teacher)  # while the page is laid out
        certificates.ensure_certificate(badge, laid_out)
    for stack_badge in stack_badges:
        certificates.ensure_certificate(stack_badge)
    return badge.id
