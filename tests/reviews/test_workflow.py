"""The review workflow end to end, with real jobs in a real worker."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from accounts.models import Role
from core.db_types import utcnow
from core.extensions import db
from evidence.models import Submission
from reviews import services
from reviews.models import AssignmentStatus, Decision, ReviewAssignment, ReviewerConflict
from reviews.signals import decision_made
from tests.conftest import csrf_from, make_user
from tests.reviews.workflow import (
    TEACHER_EMAIL,
    TEACHER_NAME,
    all_levels,
    complete_submission,
    drain,
    organization,
    reviewer,
    reviewer_client,
)


def _assignments(app: Flask, submission_id: int) -> list[ReviewAssignment]:
    with app.app_context():
        rows = db.session.scalars(
            select(ReviewAssignment)
            .where(ReviewAssignment.submission_id == submission_id)
            .order_by(ReviewAssignment.id)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def _status(app: Flask, submission_id: int) -> str:
    with app.app_context():
        return db.session.get(Submission, submission_id).status


def _submit(app: Flask, email: str, assignment_id: int, levels: dict) -> int:
    client, headers = reviewer_client(app, email)
    return client.post(
        f"/api/v1/reviews/assignments/{assignment_id}/submit",
        json={"levels": levels},
        headers=headers,
    ).status_code


def test_assignment_skips_conflicts_own_organization_and_balances_load(seeded: Flask) -> None:
    same_org = reviewer(seeded, "same@example.org", "Riverbend District")
    conflicted = reviewer(seeded, "conflicted@example.org", "Lakeside")
    busy = reviewer(seeded, "busy@example.org", "Summit")
    free_b = reviewer(seeded, "free-b@example.org", "Hillview")
    free_a = reviewer(seeded, "free-a@example.org", "Brookside")
    unqualified = reviewer(seeded, "mtss-only@example.org", "Oakdale", scopes=("mtss",))
    with seeded.app_context():
        db.session.add(
            ReviewerConflict(
                reviewer_id=conflicted, organization_id=organization(seeded, "Riverbend District")
            )
        )
        # "busy" already has two open reviews elsewhere.
        other_teacher = make_user(seeded, "other.teacher@example.org", Role.TEACHER)
        for n in range(2):
            db.session.add(
                ReviewAssignment(
                    submission_id=_placeholder_submission(seeded, other_teacher, n),
                    reviewer_id=busy,
                    due_at=utcnow() + timedelta(days=9),
                    rubric_version_id=1,
                    levels={},
                )
            )
        db.session.commit()
    _client, submission_id = complete_submission(seeded)
    drain(seeded)
    assigned = {a.reviewer_id for a in _assignments(seeded, submission_id)}
    assert assigned == {free_a, free_b}
    assert not assigned & {same_org, conflicted, busy, unqualified}
    assert _status(seeded, submission_id) == "in_review"


def _placeholder_submission(app: Flask, teacher_id: int, n: int) -> int:
    from credentials.services import current_credential

    credential = current_credential("UDL-02" if n == 0 else "UDL-03")
    submission = Submission(
        teacher_id=teacher_id,
        credential=credential,
        credential_code=credential.code,
        attempt=1,
        status="in_review",
    )
    db.session.add(submission)
    db.session.flush()
    return submission.id


def test_no_reviewer_waits_and_is_retried_when_capacity_appears(seeded: Flask) -> None:
    _client, submission_id = complete_submission(seeded)
    drain(seeded)
    with seeded.app_context():
        assert [s.id for s in services.awaiting_reviewer()] == [submission_id]
    reviewer(seeded, "late-a@example.org", "Brookside")
    reviewer(seeded, "late-b@example.org", "Hillview")
    with seeded.app_context():
        from core.jobs import enqueue

        enqueue("reviews.jobs.assign_waiting")
        db.session.commit()
    drain(seeded)
    assert len(_assignments(seeded, submission_id)) == 2
    with seeded.app_context():
        assert services.awaiting_reviewer() == []


def test_agreement_decides_with_the_lower_level_and_teacher_sees_feedback(seeded: Flask) -> None:
    reviewer(seeded, "r1@example.org", "Brookside")
    reviewer(seeded, "r2@example.org", "Hillview")
    teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    emails = {first.reviewer_id: None, second.reviewer_id: None}
    with seeded.app_context():
        from accounts.models import User

        for user_id in emails:
            emails[user_id] = db.session.get(User, user_id).email
    developing = all_levels(
        seeded, submission_id, "Developing", "Name the standard separately from the task."
    )
    mixed = dict(developing)
    mixed["C1"] = {"level": "Proficient", "feedback": ""}
    # Saving a draft leaves the other reviewer blind; submitting locks.
    assert _submit(seeded, emails[first.reviewer_id], first.id, developing) == 200
    second_client, _headers = reviewer_client(seeded, emails[second.reviewer_id])
    view = second_client.get(f"/review/{second.id}").get_data(as_text=True)
    assert "The other reviewer" not in view
    assert _submit(seeded, emails[second.reviewer_id], second.id, mixed) == 200
    outcomes: list[str] = []
    decision_made.connect(lambda _s, submission_id, outcome: outcomes.append(outcome), weak=False)
    drain(seeded)
    assert _status(seeded, submission_id) == "not_yet"
    with seeded.app_context():
        decision = db.session.scalar(
            select(Decision).where(Decision.submission_id == submission_id)
        )
        assert decision.method == "agreement"
        assert decision.final_levels["C1"]["level"] == "Developing"  # the lower of the two
    assert "not_yet" in outcomes
    decision_json = teacher.get(f"/api/v1/submissions/{submission_id}/decision").get_json()
    assert decision_json["outcome"] == "not_yet"
    assert "Name the standard separately from the task." in str(decision_json["criteria"])
    page = teacher.get(f"/submissions/{submission_id}").get_data(as_text=True)
    assert "the reviewers&#39; feedback" in page or "the reviewers' feedback" in page
    assert "Name the standard separately from the task." in page
    # Both reviewers now see each other's scores.
    assert "The other reviewer" in second_client.get(f"/review/{second.id}").get_data(as_text=True)
    # The teacher's next attempt shows the feedback beside each judged part.
    teacher_headers = {"X-CSRFToken": csrf_from(teacher, "/portfolio")}
    attempt_two = teacher.post(
        "/api/v1/submissions", json={"code": "UDL-05"}, headers=teacher_headers
    ).get_json()
    page_two = teacher.get(f"/submissions/{attempt_two['id']}").get_data(as_text=True)
    assert "Feedback on this part in attempt 1" in page_two


def test_disagreement_goes_to_an_adjudicator_whose_scores_decide(seeded: Flask) -> None:
    reviewer(seeded, "a@example.org", "Brookside")
    reviewer(seeded, "b@example.org", "Hillview")
    lead = reviewer(seeded, "lead@example.org", "Oakdale")
    with seeded.app_context():
        services.set_profile(make_user_admin(seeded), lead, {"is_lead": True})
        db.session.commit()
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    email_of = _emails(seeded)
    assert (
        _submit(
            seeded,
            email_of[first.reviewer_id],
            first.id,
            all_levels(seeded, submission_id, "Proficient"),
        )
        == 200
    )
    assert (
        _submit(
            seeded,
            email_of[second.reviewer_id],
            second.id,
            all_levels(seeded, submission_id, "Not Yet"),
        )
        == 200
    )
    drain(seeded)
    rows = _assignments(seeded, submission_id)
    adjudicator = next(a for a in rows if a.role == "adjudicator")
    assert _status(seeded, submission_id) == "in_review"
    assert (
        _submit(
            seeded,
            email_of[adjudicator.reviewer_id],
            adjudicator.id,
            all_levels(seeded, submission_id, "Proficient"),
        )
        == 200
    )
    drain(seeded)
    assert _status(seeded, submission_id) == "passed"
    with seeded.app_context():
        decision = db.session.scalar(
            select(Decision).where(Decision.submission_id == submission_id)
        )
        assert decision.method == "adjudication" and decision.outcome == "passed"


def make_user_admin(app: Flask):
    from accounts.models import User

    user_id = make_user(app, f"admin{utcnow().timestamp()}@example.org", Role.PROGRAM_ADMIN)
    return db.session.get(User, user_id)


def _emails(app: Flask) -> dict[int, str]:
    from accounts.models import User

    with app.app_context():
        return {u.id: u.email for u in db.session.scalars(select(User))}


def test_concurrent_submissions_make_exactly_one_decision(seeded: Flask) -> None:
    reviewer(seeded, "c1@example.org", "Brookside")
    reviewer(seeded, "c2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    levels = all_levels(seeded, submission_id, "Proficient")
    with seeded.app_context():
        for assignment_id in (first.id, second.id):
            row = db.session.get(ReviewAssignment, assignment_id)
            row.levels = {
                k: {"level": v["level"], "score": 2.0, "feedback": ""} for k, v in levels.items()
            }
            row.status = AssignmentStatus.SUBMITTED
            row.submitted_at = utcnow()
        db.session.commit()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def decide() -> None:
        try:
            with seeded.app_context():
                barrier.wait()
                services.decide(submission_id)
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with seeded.app_context():
        decisions = db.session.scalars(
            select(Decision).where(Decision.submission_id == submission_id)
        ).all()
        assert len(decisions) == 1
        assert db.session.get(Submission, submission_id).status == "passed"
    # SQLite may refuse a concurrent writer outright ("database is locked"); that is
    # a safe failure (the job retries). Nothing may be half-made either way.
    assert all("locked" in str(exc) for exc in errors), errors


def test_reminders_and_reassignment_by_the_clock(seeded: Flask) -> None:
    reviewer(seeded, "slow@example.org", "Brookside")
    reviewer(seeded, "steady@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, _second = _assignments(seeded, submission_id)
    span = first.due_at - first.assigned_at
    with seeded.app_context():
        assert services.check_deadlines(first.assigned_at + span * 0.4) == {
            "reminders": 0,
            "reassigned": 0,
        }
        assert services.check_deadlines(first.assigned_at + span * 0.55)["reminders"] == 2
        assert (
            services.check_deadlines(first.assigned_at + span * 0.6)["reminders"] == 0
        )  # not twice
        assert services.check_deadlines(first.assigned_at + span * 0.95)["reminders"] == 2
        db.session.commit()
    reviewer(seeded, "standby@example.org", "Oakdale")
    with seeded.app_context():
        result = services.check_deadlines(first.due_at + timedelta(hours=1))
        db.session.commit()
    assert result["reassigned"] == 2
    rows = _assignments(seeded, submission_id)
    assert sorted(a.status for a in rows).count("reassigned") == 2
    assert [a for a in rows if a.status == "assigned"]  # the standby reviewer took one
    drain(seeded)
    mails = list(Path(seeded.config["MAIL_OUTBOX_PATH"]).glob("*.eml"))
    subjects = " ".join(m.read_text(errors="replace") for m in mails)
    assert "Reminder: review of" in subjects and "moved to another reviewer" in subjects


def test_appeal_once_and_a_fresh_reviewer_decides(seeded: Flask) -> None:
    reviewer(seeded, "p1@example.org", "Brookside")
    reviewer(seeded, "p2@example.org", "Hillview")
    teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    email_of = _emails(seeded)
    for row in (first, second):
        assert (
            _submit(
                seeded,
                email_of[row.reviewer_id],
                row.id,
                all_levels(seeded, submission_id, "Developing"),
            )
            == 200
        )
    drain(seeded)
    assert _status(seeded, submission_id) == "not_yet"
    headers = {"X-CSRFToken": csrf_from(teacher, "/portfolio")}
    reason = {"reason": "My samples show three full modes; please look at A2 again."}
    assert (
        teacher.post(
            f"/api/v1/submissions/{submission_id}/appeal", json=reason, headers=headers
        ).status_code
        == 201
    )
    assert (
        teacher.post(
            f"/api/v1/submissions/{submission_id}/appeal", json=reason, headers=headers
        ).status_code
        == 409
    )
    reviewer(seeded, "fresh@example.org", "Oakdale")
    with seeded.app_context():
        admin = make_user_admin(seeded)
        from reviews.models import Appeal

        appeal = db.session.scalar(select(Appeal))
        fresh = services.assign_appeal(admin, appeal.id)
        db.session.commit()
        fresh_id, fresh_reviewer = fresh.id, fresh.reviewer_id
    assert fresh_reviewer not in {first.reviewer_id, second.reviewer_id}
    assert (
        _submit(
            seeded,
            _emails(seeded)[fresh_reviewer],
            fresh_id,
            all_levels(seeded, submission_id, "Proficient"),
        )
        == 200
    )
    drain(seeded)
    assert _status(seeded, submission_id) == "passed"
    with seeded.app_context():
        decision = db.session.scalar(
            select(Decision).where(Decision.submission_id == submission_id)
        )
        assert decision.method == "appeal" and decision.original_outcome == "not_yet"


def test_reviewers_never_see_who_wrote_it(seeded: Flask) -> None:
    reviewer(seeded, "blind1@example.org", "Brookside")
    reviewer(seeded, "blind2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    client, _headers = reviewer_client(seeded, _emails(seeded)[first.reviewer_id])
    responses = [
        client.get("/reviewer"),
        client.get(f"/review/{first.id}"),
        client.get("/api/v1/reviews/assignments"),
        client.get(f"/api/v1/reviews/assignments/{first.id}"),
    ]
    detail = responses[-1].get_json()
    for item in detail["items"]:
        if item["media_type"]:
            download = client.get(f"/review/{first.id}/items/{item['id']}/file")
            assert download.status_code == 200
            assert "sample" not in download.headers["Content-Disposition"]
            responses.append(download)
    for response in responses:
        body = response.get_data().decode("utf-8", "replace") + str(dict(response.headers))
        for secret in (TEACHER_NAME, TEACHER_EMAIL, "Riverbend", "Zelda", "zelda"):
            assert secret not in body, (response.request.path, secret)
    # Someone else's review, or the teacher's own evidence routes, stay closed.
    other, _ = reviewer_client(seeded, _emails(seeded)[second.reviewer_id])
    assert other.get(f"/review/{first.id}").status_code == 404
    assert other.get(f"/api/v1/reviews/assignments/{first.id}").status_code == 404
    assert client.get(f"/api/v1/submissions/{submission_id}").status_code in (403, 404)


def test_scores_need_feedback_below_passing_and_lock_on_submit(seeded: Flask) -> None:
    reviewer(seeded, "f1@example.org", "Brookside")
    reviewer(seeded, "f2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, _ = _assignments(seeded, submission_id)
    client, headers = reviewer_client(seeded, _emails(seeded)[first.reviewer_id])
    levels = all_levels(seeded, submission_id, "Developing")
    levels["C2"] = {"level": "Developing", "feedback": ""}
    refused = client.post(
        f"/api/v1/reviews/assignments/{first.id}/submit", json={"levels": levels}, headers=headers
    )
    assert refused.status_code == 422 and "C2" in refused.get_json()["errors"]
    draft = client.put(
        f"/api/v1/reviews/assignments/{first.id}/scores", json={"levels": levels}, headers=headers
    )
    assert draft.status_code == 200
    levels["C2"]["feedback"] = "Show which scaffold fades, and when."
    assert (
        client.post(
            f"/api/v1/reviews/assignments/{first.id}/submit",
            json={"levels": levels},
            headers=headers,
        ).status_code
        == 200
    )
    again = client.put(
        f"/api/v1/reviews/assignments/{first.id}/scores", json={"levels": levels}, headers=headers
    )
    assert again.status_code == 409
    with seeded.app_context():
        row = db.session.get(ReviewAssignment, first.id)
        assert (
            row.rubric_version_id
            == db.session.get(Submission, submission_id).credential.rubric_version_id
        )


def test_extra_attempt_is_granted_with_a_reason(seeded: Flask) -> None:
    from reviews.models import ExtraAttempt

    teacher_id = make_user(seeded, "limit@example.org", Role.TEACHER)
    with seeded.app_context():
        from accounts.models import User
        from evidence.services import start_submission

        teacher = db.session.get(User, teacher_id)
        for _ in range(3):
            submission = start_submission(teacher, "MTSS-01")
            submission.status = "not_yet"
            db.session.commit()
        with pytest.raises(Exception, match="All 3 attempts"):
            start_submission(teacher, "MTSS-01")
        db.session.rollback()
        admin = make_user_admin(seeded)
        with pytest.raises(Exception, match="reason"):
            services.grant_extra_attempt(admin, teacher_id, "MTSS-01", "  ")
        services.grant_extra_attempt(
            admin, teacher_id, "MTSS-01", "Illness during the review window"
        )
        db.session.commit()
        assert start_submission(db.session.get(User, teacher_id), "MTSS-01").attempt == 4
        assert db.session.scalar(select(ExtraAttempt)).reason == "Illness during the review window"


def test_digest_collects_notifications_into_one_daily_mail(
    seeded: Flask, client, signed_in
) -> None:
    from reviews.notifications import send_digests

    signed_in(Role.REVIEWER, email="digest@example.org")
    token = csrf_from(client, "/account/notifications")
    assert (
        client.post(
            "/account/notifications", data={"csrf_token": token, "mode": "digest"}
        ).status_code
        == 302
    )
    assert 'value="digest" checked' in client.get("/account/notifications").get_data(as_text=True)
    with seeded.app_context():
        from accounts.services import find_user_by_email
        from reviews.notifications import notify

        user = find_user_by_email("digest@example.org")
        for n in range(3):
            notify(user, "review_reassigned", assignment=None, name=f"Candidate {n}")
        db.session.commit()
    drain(seeded)
    outbox = Path(seeded.config["MAIL_OUTBOX_PATH"])
    assert not list(outbox.glob("*.eml"))  # nothing sent yet
    with seeded.app_context():
        assert send_digests() == 1
        db.session.commit()
        assert send_digests() == 0
    drain(seeded)
    [mail] = list(outbox.glob("*.eml"))
    text = mail.read_text()
    assert "3 updates" in text and "Candidate 0" in text and "Candidate 2" in text


def test_reviewers_declare_conflicts_and_are_then_skipped(seeded: Flask) -> None:
    declaring = reviewer(seeded, "declares@example.org", "Brookside")
    reviewer(seeded, "other1@example.org", "Hillview")
    reviewer(seeded, "other2@example.org", "Oakdale")
    client, headers = reviewer_client(seeded, "declares@example.org")
    org = organization(seeded, "Riverbend District")
    response = client.post(
        "/reviewer/conflicts",
        data={
            "csrf_token": headers["X-CSRFToken"],
            "organization_id": str(org),
            "note": "My sister teaches there",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/reviewer/conflicts"
    )
    assert "My sister teaches there" in client.get("/reviewer/conflicts").get_data(as_text=True)
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    assert declaring not in {a.reviewer_id for a in _assignments(seeded, submission_id)}
    assert len(_assignments(seeded, submission_id)) == 2


def test_redis_down_while_reviewers_submit_then_the_decision_follows(
    seeded: Flask, tmp_path
) -> None:
    from core.embedded_redis import EmbeddedRedis
    from tests.conftest import free_port

    reviewer(seeded, "down1@example.org", "Brookside")
    reviewer(seeded, "down2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    first, second = _assignments(seeded, submission_id)
    email_of = _emails(seeded)
    levels = all_levels(seeded, submission_id, "Proficient")
    clients = [reviewer_client(seeded, email_of[a.reviewer_id]) for a in (first, second)]
    shared = seeded.config["REDIS_URL"]
    outage = EmbeddedRedis(tmp_path / "outage", port=free_port(), persist=False)
    outage.start()
    seeded.config["REDIS_URL"] = outage.url
    outage.stop()  # Redis is unreachable from here on
    try:
        for (client, headers), assignment in zip(clients, (first, second), strict=True):
            response = client.post(
                f"/api/v1/reviews/assignments/{assignment.id}/submit",
                json={"levels": levels},
                headers=headers,
            )
            assert response.status_code == 200  # the scores are saved
    finally:
        seeded.config["REDIS_URL"] = shared
    assert {a.status for a in _assignments(seeded, submission_id)} == {"submitted"}
    assert _status(seeded, submission_id) == "in_review"  # no decision without the queue
    drain(seeded)  # Redis is back: the periodic relay moves the waiting jobs
    assert _status(seeded, submission_id) == "passed"
    with seeded.app_context():
        assert (
            len(
                db.session.scalars(
                    select(Decision).where(Decision.submission_id == submission_id)
                ).all()
            )
            == 1
        )
