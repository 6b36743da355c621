"""RQ jobs for evidence: the completeness pre-check and evidence retention."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from core import audit
from core.db_types import utcnow
from core.extensions import db
from core.jobs import job
from evidence import services
from evidence.models import Submission, SubmissionStatus
from evidence.signals import submission_complete


@job
def precheck_submission(submission_id: int) -> str | None:
    """Idempotent: a second run finds the submission already checked."""
    submission = services.run_precheck(submission_id)
    if submission is None:
        return None
    status = submission.status
    db.session.commit()
    if status == SubmissionStatus.IN_REVIEW:
        submission_complete.send(current_app._get_current_object(), submission_id=submission_id)
    return status


@job
def purge_expired_evidence() -> int:
    """Delete evidence files of decided submissions past the retention period;
    the submission, its decision and any badge stay."""
    cutoff = utcnow() - timedelta(days=current_app.config["EVIDENCE_RETENTION_DAYS"])
    expired = db.session.scalars(
        select(Submission).where(
            Submission.status.in_(
                [SubmissionStatus.PASSED, SubmissionStatus.NOT_YET, SubmissionStatus.WITHDRAWN]
            ),
            Submission.updated_at < cutoff,
        )
    ).all()
    purged = 0
    for submission in expired:
        file_ids = [item.file_id for item in submission.items if item.file_id]
        for item in submission.items:
            if item.kind == "file":
                item.file_id = None
                item.title = (item.title or "file") + " (removed after the retention period)"
        if file_ids:
            db.session.flush()
            services.forget_unused_files(file_ids)
            audit.record(
                "evidence.purged", "submission", submission.id, after={"files": len(file_ids)}
            )
            purged += len(file_ids)
    return purged
