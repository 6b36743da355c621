"""Calibration: anchors, blind scoring by reviewers-in-training, qualification."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import Role
from core.db_types import utcnow
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from core.models import AuditEvent
from core.storage import get_storage, stage_stream
from credentials.models import MicroCredential
from evidence.models import EvidenceItem, StoredFile, Submission, SubmissionStatus
from reviews import calibration
from reviews.models import CalibrationAnchor, ReviewerQualification
from reviews.statistics import Agreement, agreement
from tests.conftest import csrf_from, make_user, sign_in

TEACHER_NAME = "Zelda Quixote-Anchorwright"
TEACHER_EMAIL = "zelda.anchorwright@riverbend.example.org"
LEVEL_INDEX = {"Not Yet": 0, "Developing": 1, "Proficient": 2}


# --- Set-up helpers (also used by the reliability tests) ------------------------------


@pytest.fixture
def calibration_app(seeded: Flask) -> Flask:
    """The seeded app with the calibration pages and API (until reviews wires them in)."""
    from reviews import calibration_views

    if "reviews_calibration" not in seeded.blueprints:
        calibration_views.register(seeded)
    return seeded


def make_submission(
    app: Flask,
    teacher_id: int,
    code: str = "UDL-05",
    *,
    status: str = SubmissionStatus.IN_REVIEW,
    text: str | None = "Students chose a poster, a podcast or a model.",
) -> int:
    """A submitted attempt straight through the ORM, with one written item."""
    with app.app_context():
        credential = db.session.scalar(
            select(MicroCredential).where(
                MicroCredential.code == code, MicroCredential.status == "published"
            )
        )
        assert credential is not None
        attempt = 1 + db.session.scalar(
            select(func.count(Submission.id)).where(
                Submission.teacher_id == teacher_id, Submission.credential_code == code
            )
        )
        submission = Submission(
            teacher_id=teacher_id,
            credential_id=credential.id,
            credential_code=code,
            attempt=attempt,
            status=status,
            submitted_at=utcnow(),
        )
        if text:
            part = credential.evidence_parts[0]
            submission.items.append(
                EvidenceItem(
                    part_key=part.key,
                    kind="text",
                    text_html=f"<p>{text}</p>",
                    word_count=len(text.split()),
                )
            )
        db.session.add(submission)
        db.session.commit()
        return submission.id


def criteria_of(app: Flask, code: str) -> list[tuple[str, list[str]]]:
    """``[(criterion key, [level names, lowest first])]`` of the code's pinned rubric."""
    with app.app_context():
        credential = db.session.scalar(
            select(MicroCredential).where(
                MicroCredential.code == code, MicroCredential.status == "published"
            )
        )
        return [
            (criterion.key, [level.name for level in criterion.levels])
            for criterion in credential.rubric_version.criteria
        ]


def levels_cycle(app: Flask, code: str, start: int = 0) -> dict[str, str]:
    """Varied true levels: Not Yet, Developing, Proficient, Not Yet, ..."""
    return {
        key: names[(start + position) % len(names)]
        for position, (key, names) in enumerate(criteria_of(app, code))
    }


def login(app: Flask, email: str, *roles: Role, name: str | None = None) -> FlaskClient:
    make_user(app, email, *roles, **({"name": name} if name else {}))
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def user_id(app: Flask, email: str) -> int:
    from accounts.models import User

    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def headers(client: FlaskClient, page: str = "/account") -> dict[str, str]:
    return {"X-CSRFToken": csrf_from(client, page)}


def teacher(app: Flask, email: str = TEACHER_EMAIL, name: str = TEACHER_NAME) -> int:
    return make_user(app, email, Role.TEACHER, name=name)


def mark(app: Flask, submission_id: int, levels: dict[str, str], admin_id: int) -> int:
    with app.app_context():
        anchor = calibration.mark_anchor(submission_id, levels, actor_id=admin_id)
        db.session.commit()
        return anchor.id


def score(
    app: Flask, anchor_id: int, reviewer_id: int, levels: dict[str, str], **kwargs: Any
) -> Any:
    with app.app_context():
        figures = calibration.record_score(anchor_id, reviewer_id, levels, **kwargs)
        db.session.commit()
        return figures


def with_changes(levels: dict[str, str], **changes: str) -> dict[str, str]:
    return {**levels, **changes}


# --- Pages, end to end --------------------------------------------------------------------


def test_admin_marks_anchor_and_reviewer_calibrates_blind(calibration_app: Flask) -> None:
    app = calibration_app
    submission_id = make_submission(app, teacher(app))
    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)

    form_page = admin.get(f"/admin/calibration?submission_id={submission_id}")
    html = form_page.get_data(as_text=True)
    assert form_page.status_code == 200
    # One fieldset per criterion (the footer's language switcher is another).
    assert html.split("<footer")[0].count("<fieldset") == 6 and "<legend>C1." in html
    assert 'type="radio"' in html and 'for="level-C1-1"' in html

    true_levels = levels_cycle(app, "UDL-05")
    data = {f"level-{key}": level for key, level in true_levels.items()}
    data |= {
        "submission_id": str(submission_id),
        "csrf_token": csrf_from(admin, "/admin/calibration"),
    }
    saved = admin.post("/admin/calibration", data=data)
    assert saved.status_code == 302
    with app.app_context():
        anchor = db.session.scalar(select(CalibrationAnchor))
        assert anchor.true_levels == true_levels and anchor.theme == "udl"
        anchor_id = anchor.id
    listing = admin.get("/admin/calibration").get_data(as_text=True)
    assert f"Calibration sample {anchor_id}" in listing and 'scope="col"' in listing

    reviewer = login(app, "trainee@example.org", Role.REVIEWER)
    overview = reviewer.get("/reviewer/calibration")
    assert overview.status_code == 200
    page = reviewer.get(f"/reviewer/calibration/{anchor_id}")
    html = page.get_data(as_text=True)
    assert f"Calibration sample {anchor_id}" in html
    assert "<legend>C6." in html and 'name="level-C3"' in html
    assert "Students chose a poster" in html  # the evidence is there ...
    for shown in (overview.get_data(as_text=True), html):  # ... the teacher is not
        assert TEACHER_NAME not in shown and TEACHER_EMAIL not in shown
        assert f"Submission {submission_id}" not in shown

    answer = {f"level-{key}": level for key, level in true_levels.items()}
    answer["csrf_token"] = csrf_from(reviewer, f"/reviewer/calibration/{anchor_id}")
    scored = reviewer.post(f"/reviewer/calibration/{anchor_id}", data=answer)
    assert scored.status_code == 302
    after = reviewer.get("/reviewer/calibration").get_data(as_text=True)
    assert "You are now qualified to review Universal Design for Learning" in after
    assert "Qualified" in after and "100%" in after and "1.00" in after
    assert TEACHER_NAME not in after

    with app.app_context():
        qualification = db.session.scalar(select(ReviewerQualification))
        assert qualification.scope == "udl" and qualification.source == "calibration"
        assert qualification.exact_agreement == 1.0 and qualification.weighted_kappa == 1.0
        months = app.config["CALIBRATION_VALID_MONTHS"]
        expected = calibration.add_months(qualification.qualified_at, months)
        assert qualification.expires_at == expected
        assert qualification.expires_at > utcnow() + timedelta(days=28 * months - 5)
        actions = [
            e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        ]
        assert {"calibration.anchor_created", "calibration.scored", "calibration.qualified"} <= set(
            actions
        )


def test_page_shows_problems_next_to_the_criteria(calibration_app: Flask) -> None:
    app = calibration_app
    submission_id = make_submission(app, teacher(app))
    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)
    partial = {
        "submission_id": str(submission_id),
        "level-C1": "Proficient",
        "level-C2": "Excellent",
        "csrf_token": csrf_from(admin, "/admin/calibration"),
    }
    answer = admin.post("/admin/calibration", data=partial)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'href="#criterion-C3"' in html and "Choose a level." in html
    assert "&#39;Excellent&#39; is not a level of C2." in html
    assert 'aria-describedby="criterion-hint-C3 criterion-error-C3-1"' in html
    assert 'value="Proficient" required checked' in html  # the admin's choice is kept
    missing = admin.get("/admin/calibration?submission_id=999999")
    assert missing.status_code == 404 and 'href="#field-submission_id"' in missing.get_data(
        as_text=True
    )


def test_blind_file_download_hides_the_original_name(calibration_app: Flask) -> None:
    app = calibration_app
    teacher_id = teacher(app)
    submission_id = make_submission(app, teacher_id)
    with app.app_context():
        staged = stage_stream(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), limit=1024)
        sha = get_storage().put(staged)
        stored = StoredFile(
            owner_id=teacher_id,
            sha256=sha,
            size=staged.size,
            media_type="application/pdf",
            kind="pdf",
            original_name="Zelda Quixote-Anchorwright task plan.pdf",
        )
        item = EvidenceItem(submission_id=submission_id, part_key="A1", kind="file", file=stored)
        db.session.add(item)
        db.session.commit()
        item_id = item.id
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    anchor_id = mark(app, submission_id, levels_cycle(app, "UDL-05"), admin_id)
    reviewer = login(app, "trainee@example.org", Role.REVIEWER)
    page = reviewer.get(f"/reviewer/calibration/{anchor_id}").get_data(as_text=True)
    link = f"/reviewer/calibration/{anchor_id}/items/{item_id}/file"
    assert link in page and "Anchorwright" not in page
    download = reviewer.get(link)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    disposition = download.headers["Content-Disposition"]
    assert f"calibration-sample-{anchor_id}-A1.pdf" in disposition
    assert "Anchorwright" not in disposition


# --- The API ----------------------------------------------------------------------------


def test_api_anchors_scores_and_my_figures(calibration_app: Flask) -> None:
    app = calibration_app
    submission_id = make_submission(app, teacher(app))
    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)
    true_levels = levels_cycle(app, "UDL-05")
    created = admin.post(
        "/api/v1/calibration/anchors",
        json={"submission_id": submission_id, "levels": true_levels},
        headers=headers(admin),
    )
    assert created.status_code == 201, created.get_json()
    anchor = created.get_json()
    assert anchor["true_levels"] == true_levels and anchor["submission_id"] == submission_id
    assert admin.get("/api/v1/calibration/anchors").get_json()[0]["id"] == anchor["id"]

    reviewer = login(app, "trainee@example.org", Role.REVIEWER)
    listing = reviewer.get("/api/v1/calibration/anchors?theme=udl")
    assert listing.status_code == 200
    (sample,) = listing.get_json()
    assert sample["name"] == f"Calibration sample {anchor['id']}"
    assert "true_levels" not in sample and "submission_id" not in sample
    assert sample["criteria"][0]["levels"] == ["Not Yet", "Developing", "Proficient"]

    wrong = with_changes(
        true_levels, C1="Proficient" if true_levels["C1"] != "Proficient" else "Not Yet"
    )
    scored = reviewer.post(
        f"/api/v1/calibration/anchors/{anchor['id']}/scores",
        json={"levels": wrong},
        headers=headers(reviewer),
    )
    assert scored.status_code == 201, scored.get_json()
    figures = scored.get_json()
    assert figures["anchors_scored"] == 1 and figures["complete"] is True
    assert figures["agreement"]["pairs"] == 6
    assert figures["agreement"]["exact"] == pytest.approx(5 / 6)
    mine = reviewer.get("/api/v1/calibration/me").get_json()
    assert [m["theme"] for m in mine] == ["udl"]
    assert mine[0]["thresholds"] == {"min_exact": 0.8, "min_weighted_kappa": 0.7}
    for response in (listing, scored, reviewer.get("/api/v1/calibration/me")):
        text = response.get_data(as_text=True)
        assert TEACHER_NAME not in text and TEACHER_EMAIL not in text

    bad = reviewer.post(
        f"/api/v1/calibration/anchors/{anchor['id']}/scores",
        json={"levels": {"C1": "Proficient", "C9": "Proficient"}},
        headers=headers(reviewer),
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"C2", "C3", "C4", "C5", "C6", "C9"}


# --- Authorization ------------------------------------------------------------------------


def test_who_may_do_what(calibration_app: Flask) -> None:
    app = calibration_app
    submission_id = make_submission(app, teacher(app))
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    anchor_id = mark(app, submission_id, levels_cycle(app, "UDL-05"), admin_id)
    body = {"submission_id": submission_id, "levels": levels_cycle(app, "UDL-05")}

    anonymous = app.test_client()
    for path in ("/admin/calibration", "/admin/reliability", "/reviewer/calibration"):
        answer = anonymous.get(path)
        assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]
    for path in ("/api/v1/calibration/anchors", "/api/v1/calibration/me", "/api/v1/reliability"):
        assert anonymous.get(path).status_code == 401

    a_teacher = login(app, "other-teacher@example.org", Role.TEACHER)
    for path in (
        "/admin/calibration",
        "/admin/reliability",
        "/admin/reliability.csv",
        "/reviewer/calibration",
        f"/reviewer/calibration/{anchor_id}",
        "/api/v1/calibration/anchors",
        "/api/v1/calibration/me",
        "/api/v1/reliability",
        "/api/v1/reliability.csv",
    ):
        assert a_teacher.get(path).status_code == 403, path
    teacher_headers = headers(a_teacher)
    assert (
        a_teacher.post(
            "/api/v1/calibration/anchors", json=body, headers=teacher_headers
        ).status_code
        == 403
    )

    reviewer = login(app, "trainee@example.org", Role.REVIEWER)
    reviewer_headers = headers(reviewer)
    assert (
        reviewer.post(
            "/api/v1/calibration/anchors", json=body, headers=reviewer_headers
        ).status_code
        == 403
    )
    assert reviewer.get("/admin/calibration").status_code == 403
    assert reviewer.get("/admin/reliability").status_code == 403
    assert reviewer.get("/api/v1/reliability").status_code == 403
    form = {"submission_id": str(submission_id), "csrf_token": reviewer_headers["X-CSRFToken"]}
    assert reviewer.post("/admin/calibration", data=form).status_code == 403

    # An admin who is not a reviewer does not calibrate.
    admin = app.test_client()
    assert sign_in(admin, "admin@example.org").status_code == 302
    assert admin.get("/reviewer/calibration").status_code == 403
    assert (
        admin.post(
            f"/api/v1/calibration/anchors/{anchor_id}/scores",
            json={"levels": levels_cycle(app, "UDL-05")},
            headers=headers(admin),
        ).status_code
        == 403
    )
    # Without the CSRF token a cookie session cannot post.
    assert (
        reviewer.post(
            f"/api/v1/calibration/anchors/{anchor_id}/scores", json={"levels": {}}
        ).status_code
        == 400
    )


def test_a_reviewer_never_calibrates_on_their_own_work(calibration_app: Flask) -> None:
    app = calibration_app
    both = make_user(app, "both@example.org", Role.TEACHER, Role.REVIEWER)
    submission_id = make_submission(app, both)
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    anchor_id = mark(app, submission_id, levels_cycle(app, "UDL-05"), admin_id)
    client = app.test_client()
    assert sign_in(client, "both@example.org").status_code == 302
    assert f"Calibration sample {anchor_id}" not in client.get("/reviewer/calibration").get_data(
        as_text=True
    )
    assert client.get(f"/reviewer/calibration/{anchor_id}").status_code == 404
    with app.app_context(), pytest.raises(Exception, match="own submission"):
        calibration.record_score(anchor_id, both, levels_cycle(app, "UDL-05"))


# --- Validation ---------------------------------------------------------------------------


def test_anchor_validation(calibration_app: Flask) -> None:
    app = calibration_app
    teacher_id = teacher(app)
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    submitted = make_submission(app, teacher_id)
    draft = make_submission(app, teacher_id, status=SubmissionStatus.DRAFT)
    good = levels_cycle(app, "UDL-05")
    with app.app_context():
        with pytest.raises(NotFoundError):
            calibration.mark_anchor(999_999, good, actor_id=admin_id)
        with pytest.raises(ConflictError, match="still being edited"):
            calibration.mark_anchor(draft, good, actor_id=admin_id)
        with pytest.raises(InvalidError) as missing:
            calibration.mark_anchor(submitted, {"C1": "Proficient"}, actor_id=admin_id)
        assert set(missing.value.errors) == {"C2", "C3", "C4", "C5", "C6"}
        with pytest.raises(InvalidError) as wrong:
            calibration.mark_anchor(
                submitted, with_changes(good, C2="Excellent", C7="Proficient"), actor_id=admin_id
            )
        assert set(wrong.value.errors) == {"C2", "C7"}
        # An empty choice is a missing one.
        with pytest.raises(InvalidError):
            calibration.mark_anchor(submitted, with_changes(good, C3=""), actor_id=admin_id)
        db.session.rollback()
        anchor = calibration.mark_anchor(submitted, good, actor_id=admin_id)
        replaced = with_changes(good, C1="Proficient")
        again = calibration.mark_anchor(submitted, replaced, actor_id=admin_id)
        db.session.commit()
        assert again.id == anchor.id and again.true_levels == replaced
        assert db.session.scalar(select(func.count(CalibrationAnchor.id))) == 1


# --- Qualification thresholds --------------------------------------------------------------


def _figures(exact: float, weighted: float) -> Agreement:
    return Agreement(
        pairs=10,
        exact=exact,
        adjacent=1.0,
        kappa=weighted,
        weighted_kappa=weighted,
        linear_weighted_kappa=weighted,
        ac1=weighted,
    )


def test_thresholds_at_just_above_and_just_below(calibration_app: Flask) -> None:
    with calibration_app.app_context():
        assert calibration.meets_thresholds(_figures(0.80, 0.70))  # at both: qualifies
        assert calibration.meets_thresholds(_figures(0.8001, 0.7001))
        assert not calibration.meets_thresholds(_figures(0.7999, 0.95))
        assert not calibration.meets_thresholds(_figures(0.95, 0.6999))
        assert not calibration.meets_thresholds(_figures(1.0, None))  # type: ignore[arg-type]
        calibration_app.config["CALIBRATION_MIN_EXACT"] = 0.9
        assert not calibration.meets_thresholds(_figures(0.85, 0.9))


def _two_anchor_set(app: Flask) -> tuple[list[int], list[dict[str, str]], int]:
    """Two UDL-01 anchors (5 criteria each, so 10 criterion pairs) with varied levels."""
    admin_id = make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    anchors, truths = [], []
    for number, start in ((1, 0), (2, 1)):
        teacher_id = teacher(app, f"t{number}@example.org", f"Teacher Number{number}")
        truth = levels_cycle(app, "UDL-01", start)
        anchors.append(mark(app, make_submission(app, teacher_id, "UDL-01"), truth, admin_id))
        truths.append(truth)
    return anchors, truths, admin_id


def _expected(truths: list[dict[str, str]], given: list[dict[str, str]]) -> Agreement:
    """The figures by hand: level index = position in Not Yet < Developing < Proficient."""
    a = [LEVEL_INDEX[t[key]] for t in truths for key in sorted(t)]
    b = [LEVEL_INDEX[g[key]] for t, g in zip(truths, given, strict=True) for key in sorted(t)]
    return agreement(a, b, 3)


def test_qualification_end_to_end_on_each_side_of_each_threshold(calibration_app: Flask) -> None:
    app = calibration_app
    anchors, truths, _admin = _two_anchor_set(app)
    reviewer_id = make_user(app, "trainee@example.org", Role.REVIEWER)
    # Two of ten pairs one level apart: exact = 8/10, exactly the default minimum.
    first = with_changes(truths[0], C1="Developing")  # truth: Not Yet
    second = with_changes(truths[1], C2="Developing")  # truth: Proficient
    expected = _expected(truths, [first, second])
    assert expected.exact == 0.8
    kappa = expected.weighted_kappa
    assert kappa is not None and kappa > 0.7

    after_first = score(app, anchors[0], reviewer_id, first)
    assert not after_first.complete and not after_first.qualified  # one anchor of two

    app.config["CALIBRATION_MIN_WEIGHTED_KAPPA"] = kappa + 1e-6  # just below the kappa bar
    figures = score(app, anchors[1], reviewer_id, second)
    assert figures.complete and not figures.qualified
    assert figures.agreement.exact == pytest.approx(expected.exact)
    assert figures.agreement.weighted_kappa == pytest.approx(kappa)
    assert figures.agreement.kappa == pytest.approx(expected.kappa)

    app.config["CALIBRATION_MIN_WEIGHTED_KAPPA"] = kappa - 1e-6
    app.config["CALIBRATION_MIN_EXACT"] = 0.8 + 1e-6  # just below the exact bar
    assert not score(app, anchors[1], reviewer_id, second).qualified

    app.config["CALIBRATION_MIN_EXACT"] = 0.8  # exactly at it: qualifies
    figures = score(app, anchors[1], reviewer_id, second)  # re-scoring replaces
    assert figures.qualified and figures.agreement.pairs == 10
    with app.app_context():
        assert calibration.is_qualified(reviewer_id, "udl")
        assert calibration.is_qualified(reviewer_id, "udl", "UDL-05")
        assert not calibration.is_qualified(reviewer_id, "mtss", "MTSS-01")
        qualification = db.session.scalar(select(ReviewerQualification))
        assert qualification.exact_agreement == pytest.approx(0.8)
        assert qualification.weighted_kappa == pytest.approx(kappa)
    # Qualified: the scores are locked.
    with app.app_context(), pytest.raises(ConflictError, match="locked"):
        calibration.record_score(anchors[0], reviewer_id, truths[0])


def test_expired_qualification_stops_counting_and_recalibration_starts_afresh(
    calibration_app: Flask,
) -> None:
    app = calibration_app
    anchors, truths, admin_id = _two_anchor_set(app)
    reviewer_id = make_user(app, "trainee@example.org", Role.REVIEWER)
    # Calibrated 25 months ago: the 24-month qualification has run out.
    long_ago = utcnow() - timedelta(days=25 * 31)
    score(app, anchors[0], reviewer_id, truths[0], now=long_ago)
    assert score(app, anchors[1], reviewer_id, truths[1], now=long_ago).qualified
    with app.app_context():
        qualification = db.session.scalar(select(ReviewerQualification))
        assert qualification.expires_at < utcnow()
        assert calibration.is_qualified(reviewer_id, "udl", now=long_ago + timedelta(days=1))
        assert not calibration.is_qualified(reviewer_id, "udl")
        assert not calibration.is_qualified(reviewer_id, "udl", "UDL-01")
        figures = calibration.figures_for(reviewer_id, "udl")
        assert not figures.qualified and figures.anchors_scored == 0  # old scores do not count

    # Scoring one anchor again is not enough: the other old score belongs to the old round.
    figures = score(app, anchors[0], reviewer_id, truths[0])
    assert not figures.qualified and figures.anchors_scored == 1
    figures = score(app, anchors[1], reviewer_id, truths[1])
    assert figures.qualified
    with app.app_context():
        renewed = db.session.scalar(select(ReviewerQualification))
        assert renewed.expires_at > utcnow() + timedelta(days=365)
        assert calibration.is_qualified(reviewer_id, "udl")
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "calibration.qualified")
        ).all()
        assert len(events) == 2 and events[1].before is not None

    # A code-scoped qualification counts for that code only, and only until it expires.
    other = make_user(app, "lead@example.org", Role.REVIEWER)
    with app.app_context():
        db.session.add(
            ReviewerQualification(
                user_id=other,
                scope="UDL-05",
                source="admin",
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        db.session.commit()
        assert calibration.is_qualified(other, "udl", "UDL-05")
        assert not calibration.is_qualified(other, "udl", "UDL-01")
        assert not calibration.is_qualified(other, "udl")
        later = utcnow() + timedelta(days=2)
        assert not calibration.is_qualified(other, "udl", "UDL-05", now=later)
    assert admin_id


def test_reviewer_page_lists_only_themes_still_to_calibrate(calibration_app: Flask) -> None:
    app = calibration_app
    anchors, truths, _admin = _two_anchor_set(app)
    client = login(app, "trainee@example.org", Role.REVIEWER)
    reviewer_id = user_id(app, "trainee@example.org")
    page = client.get("/reviewer/calibration").get_data(as_text=True)
    assert f'href="/reviewer/calibration/{anchors[0]}"' in page and "0 of 2 samples scored" in page
    score(app, anchors[0], reviewer_id, truths[0])
    score(app, anchors[1], reviewer_id, truths[1])
    page = client.get("/reviewer/calibration").get_data(as_text=True)
    assert f'href="/reviewer/calibration/{anchors[0]}"' not in page
    assert "Qualified" in page
    redirect = client.get(f"/reviewer/calibration/{anchors[0]}")
    assert redirect.status_code == 302


def test_add_months_keeps_the_day_or_the_month_end() -> None:
    assert calibration.add_months(datetime(2024, 1, 31, tzinfo=UTC), 1) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    assert calibration.add_months(datetime(2023, 11, 15, tzinfo=UTC), 24) == datetime(
        2025, 11, 15, tzinfo=UTC
    )
    assert calibration.add_months(datetime(2024, 12, 1, tzinfo=UTC), 1) == datetime(
        2025, 1, 1, tzinfo=UTC
    )
