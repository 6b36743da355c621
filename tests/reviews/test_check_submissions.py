"""Check submissions: calibration anchors slipped blind into live queues, scored like any
review, compared with their true levels in the reliability report, never decided."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from accounts.models import Role, User
from core.db_types import utcnow
from core.extensions import db
from evidence.models import Submission, SubmissionStatus
from reviews import services
from reviews.models import (
    AssignmentRole,
    AssignmentStatus,
    CalibrationAnchor,
    CalibrationScore,
    Decision,
    ReviewAssignment,
)
from tests.conftest import make_user
from tests.reviews.test_calibration import (
    criteria_of,
    levels_cycle,
    login,
    make_submission,
    mark,
)
from tests.reviews.workflow import (
    all_levels,
    complete_submission,
    drain,
    reviewer,
    reviewer_client,
)

EVERY_REVIEW = pytest.mark.parametrize(
    "app", [{"REVIEW_CHECK_RATE": 1, "LOGIN_RATE_LIMIT": "100 per minute"}], indirect=True
)


def anchor_for(app: Flask, admin_id: int, code: str = "UDL-05") -> tuple[int, dict[str, str]]:
    """A decided submission by another teacher, marked as an anchor with varied levels."""
    author = make_user(app, f"anchor-author-{code}@example.org", Role.TEACHER)
    submission_id = make_submission(app, author, code, status=SubmissionStatus.PASSED)
    true_levels = levels_cycle(app, code)
    mark(app, submission_id, true_levels, admin_id)
    return submission_id, true_levels


@EVERY_REVIEW
def test_check_submission_is_blind_feeds_agreement_and_never_decides(seeded: Flask) -> None:
    app = seeded
    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == "admin@example.org"))
    anchor_submission, true_levels = anchor_for(app, admin_id)
    reviewer(app, "ann@example.org", "North District")
    reviewer(app, "ben@example.org", "South District")

    _teacher, real_submission = complete_submission(app)
    drain(app)

    # Each reviewer now has the real submission and the anchor, and cannot tell which is which.
    ann, ann_headers = reviewer_client(app, "ann@example.org")
    queue = ann.get("/api/v1/reviews/assignments").get_json()
    assert len(queue) == 2
    assert {entry["role"] for entry in queue} == {"primary"}
    assert {entry["credential_code"] for entry in queue} == {"UDL-05"}
    assert all(entry["candidate"].startswith("Candidate ") for entry in queue)
    assert {tuple(sorted(entry)) for entry in queue} == {tuple(sorted(queue[0]))}
    page = ann.get("/reviewer").get_data(as_text=True)
    assert page.count("<td>primary</td>") == 2 and "check" not in page.lower()
    with app.app_context():
        by_submission = {
            a.submission_id: a
            for a in db.session.scalars(
                select(ReviewAssignment).where(
                    ReviewAssignment.reviewer_id
                    == select(User.id).where(User.email == "ann@example.org").scalar_subquery()
                )
            )
        }
    assert set(by_submission) == {real_submission, anchor_submission}
    check = by_submission[anchor_submission]
    assert check.role == AssignmentRole.CHECK
    detail = ann.get(f"/api/v1/reviews/assignments/{check.id}").get_json()
    assert detail["role"] == "primary" and "items" in detail

    # Ann scores the check: two criteria away from the true levels.
    keys = [key for key, _names in criteria_of(app, "UDL-05")]
    names = dict(criteria_of(app, "UDL-05"))
    given = dict(true_levels)
    for key in keys[:2]:
        given[key] = next(name for name in names[key] if name != true_levels[key])
    levels = {
        key: {"level": level, "feedback": f"{key}: what to improve"} for key, level in given.items()
    }
    submitted = ann.post(
        f"/api/v1/reviews/assignments/{check.id}/submit",
        json={"levels": levels},
        headers=ann_headers,
    )
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "submitted"

    # Both reviewers score the real submission alike: it is decided as usual.
    for email in ("ann@example.org", "ben@example.org"):
        client, client_headers = reviewer_client(app, email)
        mine = next(
            entry
            for entry in client.get("/api/v1/reviews/assignments").get_json()
            if entry["status"] == "assigned"
            and entry["id"] != check.id
            and entry["candidate"] == services_pseudonym(app, real_submission)
        )
        answer = client.post(
            f"/api/v1/reviews/assignments/{mine['id']}/submit",
            json={"levels": all_levels(app, real_submission, "Proficient")},
            headers=client_headers,
        )
        assert answer.status_code == 200, answer.get_json()
    drain(app)

    with app.app_context():
        assert db.session.get(Submission, real_submission).status == SubmissionStatus.PASSED
        # The anchor is never decided again, and its status does not move.
        assert (
            db.session.scalar(
                select(func.count(Decision.id)).where(Decision.submission_id == anchor_submission)
            )
            == 0
        )
        assert db.session.get(Submission, anchor_submission).status == SubmissionStatus.PASSED

    # The reliability report compares Ann's check with the true levels.
    admin.get("/admin/reliability")
    drain(app)
    report = admin.get("/api/v1/reliability").get_json()
    (ann_check,) = report["checks"]
    assert ann_check["label"] == "Ann"
    assert ann_check["attempts"] == 1
    assert ann_check["pairs"] == len(keys)
    assert ann_check["exact"] == pytest.approx((len(keys) - 2) / len(keys))
    # A check never counts as a double-scored attempt between reviewers.
    assert report["overall"]["attempts"] == 1
    html = admin.get("/admin/reliability").get_data(as_text=True)
    assert "Check submissions" in html and '<th scope="row">Ann</th>' in html


def services_pseudonym(app: Flask, submission_id: int) -> str:
    with app.test_request_context():
        return services.pseudonym(submission_id)


def test_one_check_per_twenty_primary_reviews_and_never_a_seen_anchor(seeded: Flask) -> None:
    app = seeded
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    first_anchor, _levels = anchor_for(app, admin_id)
    ann = reviewer(app, "ann@example.org", "North District")
    teacher_id = make_user(app, "tess@example.org", Role.TEACHER)
    now = utcnow()

    def give_primary_reviews(count: int) -> None:
        made = [make_submission(app, teacher_id, "UDL-05", text=None) for _ in range(count)]
        with app.app_context():
            for submission_id in made:
                submission = db.session.get(Submission, submission_id)
                db.session.add(
                    ReviewAssignment(
                        submission_id=submission_id,
                        reviewer_id=ann,
                        role=AssignmentRole.PRIMARY,
                        status=AssignmentStatus.SUBMITTED,
                        assigned_at=now,
                        due_at=now + timedelta(days=10),
                        rubric_version_id=submission.credential.rubric_version_id,
                        levels={},
                    )
                )
            db.session.commit()

    def check_now() -> ReviewAssignment | None:
        with app.app_context():
            made = services.add_check_submission(db.session.get(User, ann), "udl", now=now)
            db.session.commit()
            return None if made is None else db.session.get(ReviewAssignment, made.id)

    assert services.DEFAULT_CHECK_RATE == 20
    give_primary_reviews(19)
    assert check_now() is None  # the 19th review brings nothing
    give_primary_reviews(1)
    made = check_now()
    assert made is not None and made.submission_id == first_anchor
    assert made.role == AssignmentRole.CHECK and made.status == AssignmentStatus.ASSIGNED

    # At the 40th review the only anchor was already given to her: no check at all,
    # and none of an anchor she scored in calibration either.
    give_primary_reviews(20)
    assert check_now() is None
    second_anchor, second_levels = anchor_for(app, admin_id, "UDL-01")
    with app.app_context():
        anchor_id = db.session.scalar(
            select(CalibrationAnchor.id).where(CalibrationAnchor.submission_id == second_anchor)
        )
        # She scored it in calibration, before she qualified.
        db.session.add(CalibrationScore(anchor_id=anchor_id, reviewer_id=ann, levels=second_levels))
        db.session.commit()
    assert check_now() is None

    # An overdue check is dropped, never handed to someone else.
    with app.app_context():
        overdue = db.session.get(ReviewAssignment, made.id)
        assert services.reassign(None, overdue, reason="overdue") == []
        db.session.commit()
        assert db.session.get(ReviewAssignment, made.id).status == AssignmentStatus.REASSIGNED
        assert (
            db.session.scalar(
                select(func.count(ReviewAssignment.id)).where(
                    ReviewAssignment.submission_id == first_anchor
                )
            )
            == 1
        )


@pytest.mark.parametrize("app", [{"REVIEW_CHECK_RATE": 0}], indirect=True)
def test_checks_can_be_turned_off(seeded: Flask) -> None:
    app = seeded
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    anchor_for(app, admin_id)
    ann = reviewer(app, "ann@example.org", "North District")
    with app.app_context():
        assert services.add_check_submission(db.session.get(User, ann), "udl") is None
