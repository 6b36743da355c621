"""Reliability from double-scored attempts: figures by hand, drift, CSV, chart, queries."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from accounts.models import Role
from core.extensions import db
from evidence.models import Submission
from reviews import reliability
from reviews.models import AssignmentRole, AssignmentStatus, ReviewAssignment
from tests.conftest import make_user, run_jobs
from tests.reviews import test_calibration
from tests.reviews.test_calibration import (
    criteria_of,
    login,
    make_submission,
    teacher,
)

calibration_app = test_calibration.calibration_app  # the same fixture, shared

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
N, D, P = "Not Yet", "Developing", "Proficient"
SCORES = {N: 0, D: 1, P: 2}


def assignment(
    submission_id: int,
    reviewer_id: int,
    levels: list[str],
    keys: list[str],
    version_id: int,
    at: datetime,
    *,
    role: str = AssignmentRole.PRIMARY,
    status: str = AssignmentStatus.SUBMITTED,
) -> ReviewAssignment:
    return ReviewAssignment(
        submission_id=submission_id,
        reviewer_id=reviewer_id,
        role=role,
        status=status,
        assigned_at=at - timedelta(days=3),
        due_at=at + timedelta(days=7),
        submitted_at=at if status == AssignmentStatus.SUBMITTED else None,
        rubric_version_id=version_id,
        levels={
            key: {"level": level, "score": SCORES[level], "feedback": ""}
            for key, level in zip(keys, levels, strict=True)
        },
    )


def double_scored(
    app: Flask,
    teacher_id: int,
    code: str,
    first: tuple[int, list[str]],
    second: tuple[int, list[str]],
    at: datetime,
) -> int:
    """A submission both primary reviewers scored; the second an hour after ``at``."""
    submission_id = make_submission(app, teacher_id, code, text=None)
    keys = [key for key, _levels in criteria_of(app, code)]
    with app.app_context():
        version_id = db.session.get(Submission, submission_id).credential.rubric_version_id
        db.session.add_all(
            [
                assignment(submission_id, first[0], first[1], keys, version_id, at),
                assignment(
                    submission_id, second[0], second[1], keys, version_id, at + timedelta(hours=1)
                ),
            ]
        )
        db.session.commit()
    return submission_id


@pytest.fixture
def three_reviewers(calibration_app: Flask) -> dict[str, int]:
    app = calibration_app
    ids = {
        name: make_user(app, f"{name.lower()}@example.org", Role.REVIEWER, name=name)
        for name in ("Ann", "Ben", "Cy")
    }
    teacher_id = teacher(app)
    ann, ben, cy = ids["Ann"], ids["Ben"], ids["Cy"]
    # S1, UDL-05, January: Ann and Ben differ on C2 (P/D) and C6 (D/N).
    double_scored(
        app,
        teacher_id,
        "UDL-05",
        (ann, [P, P, D, N, P, D]),
        (ben, [P, D, D, N, P, N]),
        datetime(2025, 1, 10, tzinfo=UTC),
    )
    # S2, UDL-05, February: Ann and Cy differ on C6 (D/P).
    double_scored(
        app,
        teacher_id,
        "UDL-05",
        (ann, [D] * 6),
        (cy, [D, D, D, D, D, P]),
        datetime(2025, 2, 5, tzinfo=UTC),
    )
    # S3, MTSS-01, February: Ben and Cy differ on C4 (P/D).
    double_scored(
        app,
        teacher_id,
        "MTSS-01",
        (ben, [N, D, P, P, D]),
        (cy, [N, D, P, D, D]),
        datetime(2025, 2, 20, tzinfo=UTC),
    )
    # Not pairs: a lone score beside an open assignment, an adjudicator's score,
    # a reassigned (no longer counting) score.
    keys = [key for key, _levels in criteria_of(app, "UDL-05")]
    lone = make_submission(app, teacher_id, "UDL-05", text=None)
    adjudicated = make_submission(app, teacher_id, "UDL-05", text=None)
    with app.app_context():
        version_id = db.session.get(Submission, lone).credential.rubric_version_id
        at = datetime(2025, 3, 1, tzinfo=UTC)
        db.session.add_all(
            [
                assignment(lone, ann, [N] * 6, keys, version_id, at),
                assignment(lone, ben, [P] * 6, keys, version_id, at, status="assigned"),
                assignment(adjudicated, ann, [N] * 6, keys, version_id, at),
                assignment(
                    adjudicated, cy, [P] * 6, keys, version_id, at, role=AssignmentRole.ADJUDICATOR
                ),
                assignment(adjudicated, ben, [P] * 6, keys, version_id, at, status="reassigned"),
            ]
        )
        db.session.commit()
    return ids


def computed_by_the_job(app: Flask, admin: Any) -> None:
    """Before the first snapshot the pages say so and ask the job for one."""
    pending = admin.get("/admin/reliability")
    assert pending.status_code == 200
    assert "The first report is being computed" in pending.get_data(as_text=True)
    missing = admin.get("/api/v1/reliability")
    assert missing.status_code == 404 and "try again in a minute" in missing.get_json()["message"]
    assert run_jobs(app) >= 1


def _by_label(rows: list[reliability.AgreementRow]) -> dict[str, reliability.AgreementRow]:
    return {row.label: row for row in rows}


def test_figures_match_hand_computed_values(
    calibration_app: Flask, three_reviewers: dict[str, int]
) -> None:
    with calibration_app.app_context():
        report = reliability.build_report(now=NOW)

    # Overall: 6 + 6 + 5 = 17 criterion pairs, 4 + 5 + 4 = 13 agree.
    assert report.overall.attempts == 3
    assert report.overall.agreement.pairs == 17
    assert report.overall.agreement.exact == pytest.approx(13 / 17)

    reviewers = _by_label(report.by_reviewer)
    assert list(reviewers) == ["Ann", "Ben", "Cy"]
    assert (reviewers["Ann"].agreement.pairs, reviewers["Ann"].attempts) == (12, 2)
    assert reviewers["Ann"].agreement.exact == pytest.approx(9 / 12)
    assert reviewers["Ben"].agreement.exact == pytest.approx(8 / 11)
    assert reviewers["Cy"].agreement.exact == pytest.approx(9 / 11)

    # UDL-05, 12 pairs. First rater (Ann both times): N 1, D 8, P 3; the other: N 2, D 7, P 3.
    # p_o = 9/12; p_e = (1*2 + 8*7 + 3*3)/144 = 67/144; kappa = (108 - 67)/(144 - 67) = 41/77.
    # Quadratic: observed sum w*o = 3 one-apart pairs / 12 = 36/144; chance sum w*e =
    # [1*(1*7) + 4*(1*3) + 1*(8*2) + 1*(8*3) + 4*(3*2) + 1*(3*7)]/144 = 104/144;
    # weighted kappa = 1 - 36/104 = 17/26.
    credentials = _by_label(report.by_credential)
    udl = credentials["UDL-05"].agreement
    assert (udl.pairs, credentials["UDL-05"].attempts) == (12, 2)
    assert udl.exact == pytest.approx(0.75)
    assert udl.adjacent == 1.0
    assert udl.kappa == pytest.approx(41 / 77)
    assert udl.weighted_kappa == pytest.approx(17 / 26)
    assert credentials["MTSS-01"].agreement.exact == pytest.approx(4 / 5)

    criteria = _by_label(report.by_criterion)
    assert len(criteria) == 6 + 5  # code + key: C1 of UDL-05 is not C1 of MTSS-01
    c6 = criteria["UDL-05 C6"].agreement
    assert (c6.pairs, c6.exact, c6.adjacent) == (2, 0.0, 1.0)
    c1 = criteria["UDL-05 C1"].agreement  # (P, P) and (D, D): p_e = .5, kappa = 1
    assert (c1.exact, c1.kappa) == (1.0, 1.0)
    assert criteria["MTSS-01 C1"].agreement.kappa is None  # both always Not Yet: p_e = 1

    months = _by_label(report.monthly)
    assert list(months) == ["2025-01", "2025-02"]  # the March rows are not pairs
    assert months["2025-01"].agreement.exact == pytest.approx(4 / 6)
    assert months["2025-02"].agreement.exact == pytest.approx(9 / 11)
    assert months["2025-02"].attempts == 2
    assert report.drift_alerts == []  # nobody has 10 pairs in the last 90 days


def test_drift_alerts(calibration_app: Flask) -> None:
    app = calibration_app
    ids = {
        name: make_user(app, f"{name.lower()}@example.org", Role.REVIEWER, name=name)
        for name in ("Dana", "Eli", "Fay", "Gus", "Hal", "Ivy")
    }
    teacher_id = teacher(app)
    earlier, recent = NOW - timedelta(days=200), NOW - timedelta(days=10)
    agree = [P, D, N, P, D, N]

    def pair(a: str, b: str, first: list[str], second: list[str], at: datetime) -> None:
        double_scored(app, teacher_id, "UDL-05", (ids[a], first), (ids[b], second), at)

    # Dana and Eli: 100% before, 50% lately (12 recent pairs): fell and below the minimum.
    for day in range(3):
        pair("Dana", "Eli", agree, agree, earlier + timedelta(days=day))
    for day in range(2):
        pair("Dana", "Eli", agree, [P, D, N, D, N, P], recent + timedelta(days=day))
    # Fay and Gus: no agreement lately, but only 6 recent pairs: too few to judge.
    for day in range(2):
        pair("Fay", "Gus", agree, agree, earlier + timedelta(days=day))
    pair("Fay", "Gus", agree, [D, P, D, D, P, D], recent)
    # Hal and Ivy: 100% before, 10/12 = 83% lately: above the minimum, but 17 points down.
    for day in range(2):
        pair("Hal", "Ivy", agree, agree, earlier + timedelta(days=day))
    pair("Hal", "Ivy", agree, agree, recent)
    pair("Hal", "Ivy", agree, [P, D, N, P, P, D], recent + timedelta(days=1))

    with app.app_context():
        report = reliability.build_report(now=NOW)
    alerts = {alert.reviewer_name: alert for alert in report.drift_alerts}
    assert set(alerts) == {"Dana", "Eli", "Hal", "Ivy"}
    dana = alerts["Dana"]
    assert dana.recent.pairs == 12 and dana.recent.exact == 0.5 and dana.earlier.exact == 1.0
    assert len(dana.reasons) == 2
    assert "fell from 100% to 50%" in dana.reasons[0] and "below the minimum" in dana.reasons[1]
    (hal_reason,) = alerts["Hal"].reasons
    assert "fell from 100% to 83%" in hal_reason


def test_csv_neutralises_formulas(calibration_app: Flask) -> None:
    app = calibration_app
    names = ['=HYPERLINK("http://evil.example/","x")', "+1+1", "-2+3", "@SUM(A1:A2)"]
    ids = [
        make_user(app, f"r{n}@example.org", Role.REVIEWER, name=name)
        for n, name in enumerate(names)
    ]
    teacher_id = teacher(app)
    at = NOW - timedelta(days=5)
    double_scored(
        app, teacher_id, "UDL-05", (ids[0], [P, D, N, P, D, N]), (ids[1], [N, P, D, N, P, D]), at
    )
    double_scored(app, teacher_id, "UDL-05", (ids[2], [P] * 6), (ids[3], [P, P, P, P, P, D]), at)

    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)
    computed_by_the_job(app, admin)
    for path in ("/admin/reliability.csv", "/api/v1/reliability.csv"):
        response = admin.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert rows[0][:3] == ["section", "key", "label"]
        labels = {row[2] for row in rows[1:] if row[0] == "reviewer"}
        assert labels == {"'" + name for name in names}
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), cell
                if cell.startswith("-"):  # only numbers, such as a negative kappa
                    float(cell)
        kappas = [float(row[7]) for row in rows[1:] if row[0] == "credential"]
        assert kappas and kappas[0] < 0  # systematic disagreement: below chance, still a number

    assert reliability.neutralise_formula("-2+3") == "'-2+3"
    assert reliability.neutralise_formula(-0.25) == -0.25
    assert reliability.neutralise_formula("plain") == "plain"


def test_report_page_chart_and_json(
    calibration_app: Flask, three_reviewers: dict[str, int]
) -> None:
    admin = login(calibration_app, "admin@example.org", Role.PROGRAM_ADMIN)
    computed_by_the_job(calibration_app, admin)
    page = admin.get("/admin/reliability")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "As of " in html
    assert (
        'role="img"' in html
        and 'aria-labelledby="monthly-agreement-title monthly-agreement-desc"' in html
    )
    assert '<title id="monthly-agreement-title">' in html
    assert "from 2025-01 to 2025-02" in html  # the description names the range
    assert "<polyline" in html and html.count("<circle") == 2
    assert "<caption>Agreement per month" in html and '<th scope="row">2025-02</th>' in html
    assert '<th scope="row">Ann</th>' in html and "UDL-05 C6" in html
    assert 'href="/admin/reliability.csv"' in html
    assert "<h1>" in html and html.index("<h1>") < html.index("<h2")

    report = admin.get("/api/v1/reliability").get_json()
    assert report["overall"]["pairs"] == 17
    assert report["overall"]["exact"] == pytest.approx(13 / 17)
    assert [row["label"] for row in report["monthly"]] == ["2025-01", "2025-02"]
    assert report["drift_alerts"] == []


def test_empty_report_and_chart(calibration_app: Flask) -> None:
    with calibration_app.app_context():
        report = reliability.build_report(now=NOW)
        assert report.overall.agreement.pairs == 0 and report.overall.agreement.exact is None
        svg = str(reliability.monthly_chart_svg(report.monthly, minimum=0.8))
    assert "<title" in svg and "<desc" in svg and "nothing to plot" in svg
    admin = login(calibration_app, "admin@example.org", Role.PROGRAM_ADMIN)
    assert admin.get("/admin/reliability").status_code == 200


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_report_query_count_does_not_grow_with_submissions(calibration_app: Flask) -> None:
    app = calibration_app
    ann = make_user(app, "ann@example.org", Role.REVIEWER, name="Ann")
    ben = make_user(app, "ben@example.org", Role.REVIEWER, name="Ben")
    teacher_id = teacher(app)
    at = NOW - timedelta(days=30)

    def add(count: int) -> None:
        for number in range(count):
            double_scored(
                app,
                teacher_id,
                "UDL-05" if number % 2 else "MTSS-01",
                (ann, [P] * 6 if number % 2 else [P] * 5),
                (ben, [P, D, P, P, P, P] if number % 2 else [D] * 5),
                at + timedelta(minutes=number),
            )

    def statements_for_report() -> tuple[int, int]:
        with app.app_context():
            db.session.expire_all()
            with counted_statements() as statements:
                report = reliability.build_report(now=NOW)
            return len(statements), report.overall.attempts

    add(5)
    few, attempts = statements_for_report()
    assert attempts == 5
    add(45)
    many, attempts = statements_for_report()
    assert attempts == 50
    assert many == few
    # Assignments (streamed), rubric versions, their criteria, their levels, check
    # submissions, reviewer names.
    assert few <= 6


@pytest.mark.parametrize("app", [{"RELIABILITY_PAIR_WINDOW": 5}], indirect=True)
def test_agreement_per_reviewer_pair_over_their_last_attempts(calibration_app: Flask) -> None:
    app = calibration_app
    ids = {
        name: make_user(app, f"{name.lower()}@example.org", Role.REVIEWER, name=name)
        for name in ("Ann", "Ben", "Cy")
    }
    teacher_id = teacher(app)
    agree = [P, D, N, P, D, N]
    half = [P, D, N, D, N, P]  # three of six criteria differ from ``agree``

    def pair(a: str, b: str, second: list[str], at: datetime) -> None:
        double_scored(app, teacher_id, "UDL-05", (ids[a], agree), (ids[b], second), at)

    # Ann and Ben disagreed entirely long ago, then agreed on their last five attempts.
    for day in range(2):
        pair("Ann", "Ben", [D, N, P, D, N, P], NOW - timedelta(days=120 - day))
    for day in range(5):
        pair("Ann", "Ben", agree, NOW - timedelta(days=20 - day))
    # Ann and Cy: half the criteria on each of five attempts.
    for day in range(5):
        pair("Ann", "Cy", half, NOW - timedelta(days=30 - day))
    # Ben and Cy: four attempts, too few to judge the pair.
    for day in range(4):
        pair("Ben", "Cy", agree, NOW - timedelta(days=10 - day))

    with app.app_context():
        report = reliability.build_report(now=NOW)
    assert report.pair_window == 5
    assert [row.label for row in report.by_pair] == ["Ann and Cy", "Ann and Ben"]
    ann_cy, ann_ben = report.by_pair
    assert (ann_cy.attempts, ann_cy.agreement.pairs, ann_cy.agreement.exact) == (5, 30, 0.5)
    # Rolling: only the last five attempts count, so the early disagreement is gone...
    assert (ann_ben.attempts, ann_ben.agreement.pairs, ann_ben.agreement.exact) == (5, 30, 1.0)
    # ...while Ann's own figure over all her attempts still carries it.
    ann = next(row for row in report.by_reviewer if row.label == "Ann")
    assert ann.attempts == 12 and ann.agreement.exact < 1.0

    # The page and the CSV show the same pairs.
    admin = login(app, "admin@example.org", Role.PROGRAM_ADMIN)
    computed_by_the_job(app, admin)
    html = admin.get("/admin/reliability").get_data(as_text=True)
    assert "last 5 attempts together" in html
    assert html.index('<th scope="row">Ann and Cy</th>') < html.index(
        '<th scope="row">Ann and Ben</th>'
    )
    rows = list(csv.reader(io.StringIO(admin.get("/admin/reliability.csv").get_data(as_text=True))))
    assert [row[2] for row in rows if row[0] == "pair"] == ["Ann and Cy", "Ann and Ben"]


def test_hourly_job_queues_one_refresh_with_a_long_timeout(calibration_app: Flask) -> None:
    from core.jobs import enqueue, relay_outbox
    from core.models import OutboxMessage
    from reviews.models import ReliabilitySnapshot

    app = calibration_app

    def hourly() -> None:
        with app.app_context():
            enqueue("reviews.jobs.schedule_reliability_refresh")
            db.session.commit()
            relay_outbox()
        run_jobs(app)

    hourly()
    hourly()  # the same hour: nothing more is queued
    with app.app_context():
        refreshes = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.func_name == "reviews.jobs.refresh_reliability"
            )
        ).all()
        assert len(refreshes) == 1
        assert refreshes[0].kwargs == {"job_timeout": reliability.REFRESH_TIMEOUT}
        assert db.session.scalar(select(func.count(ReliabilitySnapshot.id))) == 1


def test_two_first_requests_at_once_queue_one_refresh_and_neither_fails(
    calibration_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the API fuzzer: two requests before the first snapshot both saw no
    queued refresh, and the second one's commit broke the outbox's unique job id (500)."""
    from core.models import OutboxMessage

    admin = login(calibration_app, "admin@example.org", Role.PROGRAM_ADMIN)
    asked = reliability.request_refresh

    def asked_while_another_request_commits_the_same(job_id: str) -> bool:
        queued = asked(job_id)
        with db.engine.begin() as other:  # the request running alongside commits first
            other.execute(
                OutboxMessage.__table__.insert().values(
                    queue="default",
                    func_name="reviews.jobs.refresh_reliability",
                    args=[],
                    kwargs={},
                    job_id=job_id,
                )
            )
        return queued

    monkeypatch.setattr(
        reliability, "request_refresh", asked_while_another_request_commits_the_same
    )
    response = admin.get("/api/v1/reliability")
    assert response.status_code == 404 and "try again in a minute" in response.get_json()["message"]
    with calibration_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
