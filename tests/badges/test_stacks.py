"""A stack is awarded, signed, when its last member badge is issued."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from accounts.models import Role, User
from badges.models import Badge
from badges.verification import verify_credential
from core.extensions import db
from credentials.services import current_credential
from evidence.models import Submission
from reviews.models import Decision
from tests.conftest import make_user, run_jobs


def _passed_attempt(teacher: User, code: str) -> int:
    """A passed attempt with its decision (the review workflow is tested elsewhere)."""
    credential = current_credential(code)
    submission = Submission(
        teacher_id=teacher.id,
        credential=credential,
        credential_code=code,
        attempt=1,
        status="passed",
    )
    db.session.add(submission)
    db.session.flush()
    version = credential.rubric_version
    final = {
        c.key: {"level": c.levels[-1].name, "score": c.levels[-1].score, "feedback": []}
        for c in version.criteria
    }
    db.session.add(
        Decision(
            submission_id=submission.id,
            outcome="passed",
            method="agreement",
            rubric_version_id=version.id,
            final_levels=final,
        )
    )
    db.session.flush()
    return submission.id


def test_stack_is_issued_with_its_last_member(seeded: Flask) -> None:
    from badges import services
    from core.jobs import enqueue, relay_outbox

    teacher_id = make_user(seeded, "stacker@example.org", Role.TEACHER, name="Sam Stacker")
    members = ["UDL-01", "UDL-02", "IPL-06", "UDL-03", "UDL-04"]
    with seeded.app_context():
        teacher = db.session.get(User, teacher_id)
        for code in members:
            services.issue_for_submission(_passed_attempt(teacher, code))
        assert services.issue_stacks(teacher) == []  # one short
        last = _passed_attempt(teacher, "UDL-05")
        enqueue("badges.jobs.issue_badge_for_submission", last, queue="issuance")
        db.session.commit()
        relay_outbox()
    run_jobs(seeded)
    with seeded.test_request_context():
        stack = db.session.scalar(select(Badge).where(Badge.kind == "stack"))
        assert stack is not None and stack.competency_code == "STACK-UDL"
        credential = json.loads(stack.credential_json)
        assert credential["credentialSubject"]["creditsEarned"] == 0  # no double counting
        assert "UDL-05" in credential["credentialSubject"]["achievement"]["criteria"]["narrative"]
        assert verify_credential(credential).valid
        assert stack.pdf_sha256  # the certificate too
        teacher = db.session.get(User, teacher_id)
        assert services.issue_stacks(teacher) == []  # never twice
