"""``microcred doctor`` passes a healthy instance and names each broken invariant."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import select, text, update

from badges.models import Badge, StatusList
from badges.statuslist import Bitstring
from core.cli import cli
from core.db_types import utcnow
from core.extensions import db
from core.models import AuditEvent, OutboxMessage
from core.storage import get_storage
from evidence.models import StoredFile
from reviews.models import AssignmentRole, ReviewAssignment
from tests.badges.test_issuance import _passed


def run_cli(app: Flask, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def doctor(app: Flask, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli(app, "doctor", "--json", *args)
    return result.exit_code, json.loads(result.output)


def problems(report: dict[str, Any]) -> dict[str, list[str]]:
    return {c["name"]: c["problems"] for c in report["checks"] if c["problems"]}


@pytest.fixture
def issued(seeded: Flask) -> tuple[Flask, int, str]:
    _teacher, submission_id = _passed(seeded)
    with seeded.app_context():
        badge_id = db.session.scalar(select(Badge.id).where(Badge.submission_id == submission_id))
    assert badge_id is not None
    return seeded, submission_id, badge_id


def test_a_healthy_instance_passes_every_check(issued) -> None:
    app, _submission_id, _badge_id = issued
    code, report = doctor(app)
    assert problems(report) == {}
    assert code == 0 and report["ok"] is True
    names = {c["name"] for c in report["checks"]}
    assert {
        "audit-chain",
        "outbox",
        "failed-jobs",
        "abandoned-jobs",
        "decisions",
        "assignments",
        "pending-decisions",
        "evidence-files",
        "badges-issued",
        "badges-unique",
        "badge-credentials",
        "status-lists",
        "badge-certificates",
    } <= names
    plain = run_cli(app, "doctor")
    assert plain.exit_code == 0
    assert "checks passed" in plain.output


def _tamper_audit(app: Flask, submission_id: int, badge_id: str) -> None:
    db.session.execute(
        update(AuditEvent).where(AuditEvent.seq == 3).values(action="review.assigned-edited")
    )


def _remove_blob(app: Flask, submission_id: int, badge_id: str) -> None:
    stored = db.session.scalars(select(StoredFile)).first()
    get_storage().delete(stored.sha256)


def _corrupt_blob(app: Flask, submission_id: int, badge_id: str) -> None:
    badge = db.session.get(Badge, badge_id)
    path = get_storage()._path(badge.pdf_sha256)  # type: ignore[attr-defined]
    path.write_bytes(path.read_bytes()[:-10])


def _flip_status_bit(app: Flask, submission_id: int, badge_id: str) -> None:
    badge = db.session.get(Badge, badge_id)
    status_list = db.session.get(StatusList, badge.status_list_id)
    bits = Bitstring.decode(status_list.encoded_list)
    bits.set(badge.status_index)
    status_list.encoded_list = bits.encode()


def _unrevoke_in_list(app: Flask, submission_id: int, badge_id: str) -> None:
    """The badge is revoked in the database but its bit was lost."""
    db.session.execute(
        update(Badge).where(Badge.id == badge_id).values(revoked_at=utcnow(), public=False)
    )


def _tamper_credential(app: Flask, submission_id: int, badge_id: str) -> None:
    badge = db.session.get(Badge, badge_id)
    document = json.loads(badge.credential_json)
    document["credentialSubject"]["creditsEarned"] = 150
    badge.credential_json = json.dumps(document)


def _delete_badge(app: Flask, submission_id: int, badge_id: str) -> None:
    db.session.execute(Badge.__table__.delete().where(Badge.id == badge_id))


def _third_reviewer(app: Flask, submission_id: int, badge_id: str) -> None:
    first = db.session.scalars(
        select(ReviewAssignment).where(ReviewAssignment.submission_id == submission_id)
    ).first()
    from accounts.models import Role
    from tests.conftest import make_user

    extra = make_user(app, "third@example.org", Role.REVIEWER)
    db.session.add(
        ReviewAssignment(
            submission_id=submission_id,
            reviewer_id=extra,
            role=str(AssignmentRole.PRIMARY),
            status="assigned",
            due_at=first.due_at,
            rubric_version_id=first.rubric_version_id,
            levels={},
        )
    )


def _lose_decision(app: Flask, submission_id: int, badge_id: str) -> None:
    db.session.execute(text("DELETE FROM decisions WHERE submission_id = :s"), {"s": submission_id})


def _stale_outbox(app: Flask, submission_id: int, badge_id: str) -> None:
    db.session.add(OutboxMessage(queue="default", func_name="reviews.jobs.assign_waiting"))
    app.config["DOCTOR_STALE_SECONDS"] = -60  # everything waiting counts as stale


CORRUPTIONS: dict[str, tuple[Callable[..., None], str, str]] = {
    "audit row edited": (_tamper_audit, "audit-chain", "edited"),
    "evidence blob removed": (_remove_blob, "evidence-files", "missing from storage"),
    "certificate truncated": (_corrupt_blob, "badge-certificates", "do not match"),
    "status bit set without revocation": (_flip_status_bit, "status-lists", "says revoked"),
    "revoked badge with its bit clear": (_unrevoke_in_list, "status-lists", "the badge is revoked"),
    "credential edited after signing": (_tamper_credential, "badge-credentials", "proof"),
    "badge lost": (_delete_badge, "badges-issued", "never issued"),
    "third primary reviewer": (_third_reviewer, "assignments", "3 active primary reviewers"),
    "decision lost": (_lose_decision, "decisions", "has no decision"),
    "outbox stuck": (_stale_outbox, "outbox", "not moved to Redis"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_each_broken_invariant_is_reported(issued, case: str) -> None:
    app, submission_id, badge_id = issued
    corrupt, check, words = CORRUPTIONS[case]
    if case == "badge lost":
        app.config["DOCTOR_STALE_SECONDS"] = -60  # the attempt passed long enough ago
    with app.app_context():
        corrupt(app, submission_id, badge_id)
        db.session.commit()
    code, report = doctor(app)
    found = problems(report)
    assert code == 1 and report["ok"] is False
    assert check in found, found
    assert any(words in problem for problem in found[check]), found[check]
