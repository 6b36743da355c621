"""Inter-rater reliability from real double-scored attempts and check submissions.

A pair is two SUBMITTED primary assignments on the same submission; each criterion
both scored gives one criterion pair (level indexes in the criterion's ordered
levels). Figures are grouped per reviewer (against whoever they were paired with),
per micro-credential code, per criterion (a key means something only within one
micro-credential, so the group is code + key), per month of the pair's later
submission, and per pair of reviewers over their last PAIR_WINDOW double-scored
attempts together. Check submissions (calibration anchors slipped blind into live
queues) give each reviewer's agreement with the known true levels. Drift alerts
flag reviewers whose recent agreement fell.

Building the report reads every double-scored attempt once, streamed in submission
order, and adds each criterion pair to confusion matrices (one per group): memory
stays bounded by the number of groups, not of attempts. With a million attempts that
takes a while, so the periodic job ``reviews.jobs.refresh_reliability`` stores the
result as a snapshot and the pages read the latest one ("as of" its time).
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import delete, select

from accounts.models import User
from core.csvsafe import neutralise_formula
from core.db_types import utcnow
from core.extensions import db
from core.jobs import enqueue
from core.models import OutboxMessage
from evidence.models import Submission
from reviews.calibration import level_indexes, thresholds
from reviews.models import (
    AssignmentRole,
    AssignmentStatus,
    CalibrationAnchor,
    ReliabilitySnapshot,
    ReviewAssignment,
)
from reviews.statistics import Agreement, agreement_from_matrix
from rubrics.models import RubricVersion

DRIFT_WINDOW = timedelta(days=90)
DRIFT_DROP = 0.15  # recent exact agreement this far below the earlier figure is drift
DRIFT_MIN_PAIRS = 10  # criterion pairs needed on each side before judging drift
DEFAULT_PAIR_WINDOW = 20  # double-scored attempts per reviewer pair in the rolling figure
PAIR_MIN_ATTEMPTS = 5  # a pair is judged once it has this many attempts together
PAIRS_SHOWN = 50  # the least-agreeing pairs are listed (200 reviewers make 19,900 pairs)
SNAPSHOTS_KEPT = 5
STREAM_BATCH = 2000
MONTHS_KEPT = 24  # the monthly trend keeps the last two years (the figures use them all)
REFRESH_TIMEOUT = 3600  # seconds; a million double-scored attempts take minutes


Cell = tuple[str, int, int, int]  # criterion key, first index, second index, categories


@dataclass(frozen=True)
class ScoredAttempt:
    """Two reviewers' levels on one submission, one cell per criterion both scored."""

    submission_id: int
    code: str
    first_reviewer_id: int
    second_reviewer_id: int
    at: datetime  # when the later of the two scores was submitted
    cells: list[Cell]


@dataclass(frozen=True)
class AgreementRow:
    key: str
    label: str
    attempts: int  # double-scored submissions behind the figures
    agreement: Agreement

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "attempts": self.attempts} | (
            self.agreement.as_dict()
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgreementRow:
        return cls(data["key"], data["label"], data["attempts"], _agreement_from(data))


def _agreement_from(data: dict[str, Any]) -> Agreement:
    return Agreement(**{name.name: data[name.name] for name in fields(Agreement)})


@dataclass(frozen=True)
class DriftAlert:
    reviewer_id: int
    reviewer_name: str
    recent: Agreement
    earlier: Agreement
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewer_id": self.reviewer_id,
            "reviewer_name": self.reviewer_name,
            "recent": self.recent.as_dict(),
            "earlier": self.earlier.as_dict(),
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftAlert:
        return cls(
            data["reviewer_id"],
            data["reviewer_name"],
            _agreement_from(data["recent"]),
            _agreement_from(data["earlier"]),
            tuple(data["reasons"]),
        )


@dataclass(frozen=True)
class ReliabilityReport:
    generated_at: datetime
    minimum_exact: float
    overall: AgreementRow
    by_reviewer: list[AgreementRow]
    by_credential: list[AgreementRow]
    by_criterion: list[AgreementRow]
    monthly: list[AgreementRow]
    drift_alerts: list[DriftAlert]
    pair_window: int = DEFAULT_PAIR_WINDOW
    by_pair: list[AgreementRow] = field(default_factory=list)  # rolling, last pair_window
    checks: list[AgreementRow] = field(default_factory=list)  # against true levels

    TABLES = ("by_reviewer", "by_credential", "by_criterion", "monthly", "by_pair", "checks")

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "minimum_exact": self.minimum_exact,
            "pair_window": self.pair_window,
            "overall": self.overall.as_dict(),
            **{name: [row.as_dict() for row in getattr(self, name)] for name in self.TABLES},
            "drift_alerts": [alert.as_dict() for alert in self.drift_alerts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReliabilityReport:
        generated_at = data["generated_at"]
        return cls(
            generated_at=(
                datetime.fromisoformat(generated_at)
                if isinstance(generated_at, str)
                else generated_at
            ),
            minimum_exact=data["minimum_exact"],
            overall=AgreementRow.from_dict(data["overall"]),
            drift_alerts=[DriftAlert.from_dict(alert) for alert in data["drift_alerts"]],
            pair_window=data.get("pair_window", DEFAULT_PAIR_WINDOW),
            **{
                name: [AgreementRow.from_dict(row) for row in data.get(name, [])]
                for name in cls.TABLES
            },
        )


# --- Counting ----------------------------------------------------------------------------


class Tally:
    """A growing confusion matrix, and how many attempts (submissions) fed it.

    Rows arrive in submission order, so counting a submission once is remembering
    the last one seen."""

    __slots__ = ("_last", "attempts", "matrix")

    def __init__(self) -> None:
        self.matrix: list[list[int]] = [[0]]
        self.attempts = 0
        self._last: int | None = None

    def add(self, submission_id: int, first: int, second: int, categories: int) -> None:
        size = max(categories, first + 1, second + 1)
        if size > len(self.matrix):
            for row in self.matrix:
                row.extend([0] * (size - len(row)))
            self.matrix.extend([0] * size for _ in range(size - len(self.matrix)))
        self.matrix[first][second] += 1
        if submission_id != self._last:
            self.attempts += 1
            self._last = submission_id

    def add_cells(self, submission_id: int, cells: list[Cell], *, swapped: bool = False) -> None:
        for _key, first, second, categories in cells:
            if swapped:
                first, second = second, first
            self.add(submission_id, first, second, categories)

    def row(self, key: str, label: str) -> AgreementRow:
        return AgreementRow(key, label, self.attempts, agreement_from_matrix(self.matrix))


def _versions(version_ids: Any) -> dict[int, dict[str, dict[str, int]]]:
    return {
        version.id: level_indexes(version)
        for version in db.session.scalars(
            select(RubricVersion).where(RubricVersion.id.in_(version_ids))
        )
    }


def _scored(role: AssignmentRole) -> Any:
    return (
        ReviewAssignment.status == AssignmentStatus.SUBMITTED,
        ReviewAssignment.role == role,
        ReviewAssignment.submitted_at.is_not(None),
    )


def _primary_rows() -> Iterator[Any]:
    """Submitted primary scores, in submission order, streamed in batches."""
    yield from db.session.execute(
        select(
            ReviewAssignment.submission_id,
            ReviewAssignment.reviewer_id,
            ReviewAssignment.submitted_at,
            ReviewAssignment.rubric_version_id,
            ReviewAssignment.levels,
            Submission.credential_code,
        )
        .join(Submission, Submission.id == ReviewAssignment.submission_id)
        .where(*_scored(AssignmentRole.PRIMARY))
        .order_by(
            ReviewAssignment.submission_id, ReviewAssignment.submitted_at, ReviewAssignment.id
        )
        .execution_options(yield_per=STREAM_BATCH)
    )


def scored_attempts() -> Iterator[ScoredAttempt]:
    """Every double-scored attempt (each pair of primary scores), in submission order."""
    indexes = _versions(
        select(ReviewAssignment.rubric_version_id)
        .where(*_scored(AssignmentRole.PRIMARY))
        .distinct()
        .scalar_subquery()
    )
    for _submission_id, group in itertools.groupby(_primary_rows(), key=lambda r: r.submission_id):
        for first, second in itertools.combinations(list(group), 2):
            cells = _cells(first, second, indexes)
            if cells:
                yield ScoredAttempt(
                    submission_id=first.submission_id,
                    code=first.credential_code,
                    first_reviewer_id=first.reviewer_id,
                    second_reviewer_id=second.reviewer_id,
                    at=max(first.submitted_at, second.submitted_at),
                    cells=cells,
                )


def _cells(first: Any, second: Any, indexes: dict[int, dict[str, dict[str, int]]]) -> list[Cell]:
    first_levels = indexes.get(first.rubric_version_id, {})
    second_levels = indexes.get(second.rubric_version_id, {})
    first_given, second_given = first.levels or {}, second.levels or {}
    cells = []
    for key, first_names in first_levels.items():
        second_names = second_levels.get(key)
        if second_names is None:
            continue
        first_index = first_names.get((first_given.get(key) or {}).get("level"))
        second_index = second_names.get((second_given.get(key) or {}).get("level"))
        if first_index is None or second_index is None:
            continue
        cells.append((key, first_index, second_index, max(len(first_names), len(second_names))))
    return cells


def _check_tallies() -> dict[int, Tally]:
    """Per reviewer: their levels on check submissions against the anchors' true levels."""
    rows = db.session.execute(
        select(
            ReviewAssignment.submission_id,
            ReviewAssignment.reviewer_id,
            ReviewAssignment.rubric_version_id,
            ReviewAssignment.levels,
            CalibrationAnchor.true_levels,
        )
        .join(CalibrationAnchor, CalibrationAnchor.submission_id == ReviewAssignment.submission_id)
        .where(*_scored(AssignmentRole.CHECK))
        .order_by(ReviewAssignment.reviewer_id, ReviewAssignment.submission_id)
    ).all()
    tallies: dict[int, Tally] = defaultdict(Tally)
    if not rows:
        return tallies
    indexes = _versions({row.rubric_version_id for row in rows})
    for row in rows:
        for key, names in indexes.get(row.rubric_version_id, {}).items():
            given = names.get(((row.levels or {}).get(key) or {}).get("level"))
            true = names.get((row.true_levels or {}).get(key))
            if given is not None and true is not None:
                tallies[row.reviewer_id].add(row.submission_id, given, true, len(names))
    return tallies


def pair_window() -> int:
    return int(current_app.config.get("RELIABILITY_PAIR_WINDOW", DEFAULT_PAIR_WINDOW))


# --- Figures -----------------------------------------------------------------------------


def _drift(
    reviewer_id: int, name: str, recent_tally: Tally, earlier_tally: Tally, minimum: float
) -> DriftAlert | None:
    recent = agreement_from_matrix(recent_tally.matrix)
    earlier = agreement_from_matrix(earlier_tally.matrix)
    if recent.pairs < DRIFT_MIN_PAIRS or recent.exact is None:
        return None
    reasons: list[str] = []
    if (
        earlier.pairs >= DRIFT_MIN_PAIRS
        and earlier.exact is not None
        and recent.exact < earlier.exact - DRIFT_DROP - 1e-9
    ):
        reasons.append(
            f"Exact agreement fell from {earlier.exact:.0%} to {recent.exact:.0%} "
            f"in the last {DRIFT_WINDOW.days} days."
        )
    if recent.exact < minimum:
        reasons.append(
            f"Exact agreement in the last {DRIFT_WINDOW.days} days ({recent.exact:.0%}) "
            f"is below the minimum of {minimum:.0%}."
        )
    if not reasons:
        return None
    return DriftAlert(reviewer_id, name, recent, earlier, tuple(reasons))


def _rolling_pairs(
    recent_by_pair: dict[tuple[int, int], list[tuple[datetime, int, list[Cell]]]],
) -> dict[tuple[int, int], Tally]:
    tallies: dict[tuple[int, int], Tally] = {}
    for reviewers, attempts in recent_by_pair.items():
        tally = tallies[reviewers] = Tally()
        for _at, submission_id, cells in sorted(attempts):
            tally.add_cells(submission_id, cells)
    return tallies


def build_report(*, now: datetime | None = None) -> ReliabilityReport:
    """Agreement overall, per reviewer, per micro-credential, per criterion, per month
    and per reviewer pair (rolling), agreement with check submissions' true levels,
    and drift alerts (recent = the last 90 days before ``now``)."""
    now = now or utcnow()
    since = now - DRIFT_WINDOW
    minimum = thresholds()["min_exact"]
    window = pair_window()
    overall = Tally()
    by_reviewer: dict[int, Tally] = defaultdict(Tally)
    recent: dict[int, Tally] = defaultdict(Tally)
    earlier: dict[int, Tally] = defaultdict(Tally)
    by_code: dict[str, Tally] = defaultdict(Tally)
    by_criterion: dict[tuple[str, str], Tally] = defaultdict(Tally)
    by_month: dict[str, Tally] = defaultdict(Tally)
    # Per reviewer pair (lower id first): a min-heap of its latest ``window`` attempts.
    latest: dict[tuple[int, int], list[tuple[datetime, int, list[Cell]]]] = defaultdict(list)

    for attempt in scored_attempts():
        sid, cells, at = attempt.submission_id, attempt.cells, attempt.at
        first, second = attempt.first_reviewer_id, attempt.second_reviewer_id
        overall.add_cells(sid, cells)
        by_code[attempt.code].add_cells(sid, cells)
        by_month[f"{at.year:04d}-{at.month:02d}"].add_cells(sid, cells)
        for key, a, b, categories in cells:
            by_criterion[(attempt.code, key)].add(sid, a, b, categories)
        window_tallies = recent if at >= since else earlier
        for reviewer_id, swapped in ((first, False), (second, True)):
            by_reviewer[reviewer_id].add_cells(sid, cells, swapped=swapped)
            window_tallies[reviewer_id].add_cells(sid, cells, swapped=swapped)
        if window > 0:
            heap = latest[(min(first, second), max(first, second))]
            entry = (at, sid, cells if first < second else [(k, b, a, c) for k, a, b, c in cells])
            if len(heap) < window:
                heapq.heappush(heap, entry)
            elif entry > heap[0]:
                heapq.heapreplace(heap, entry)

    checks = _check_tallies()
    pairs = _rolling_pairs(latest)
    wanted = set(by_reviewer) | set(checks) | {rid for ids in pairs for rid in ids}
    names = dict(
        db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all()
        if wanted
        else []
    )

    def by_name(ids: Iterable[int]) -> list[int]:
        return sorted(ids, key=lambda rid: (names.get(rid, ""), rid))

    reviewer_order = by_name(by_reviewer)
    alerts = [
        _drift(rid, names.get(rid, ""), recent[rid], earlier[rid], minimum)
        for rid in reviewer_order
    ]
    pair_rows = [
        pairs[(low, high)].row(f"{low}-{high}", f"{names.get(low, '')} and {names.get(high, '')}")
        for low, high in pairs
        if pairs[(low, high)].attempts >= PAIR_MIN_ATTEMPTS
    ]
    pair_rows.sort(key=lambda row: (row.agreement.exact or 0.0, row.label, row.key))
    return ReliabilityReport(
        generated_at=now,
        minimum_exact=minimum,
        overall=overall.row("all", "All double-scored attempts"),
        by_reviewer=[by_reviewer[rid].row(str(rid), names.get(rid, "")) for rid in reviewer_order],
        by_credential=[by_code[code].row(code, code) for code in sorted(by_code)],
        by_criterion=[
            by_criterion[(code, key)].row(f"{code}:{key}", f"{code} {key}")
            for code, key in sorted(by_criterion)
        ],
        monthly=[by_month[month].row(month, month) for month in sorted(by_month)][-MONTHS_KEPT:],
        drift_alerts=[alert for alert in alerts if alert is not None],
        pair_window=window,
        by_pair=pair_rows[:PAIRS_SHOWN],
        checks=[checks[rid].row(str(rid), names.get(rid, "")) for rid in by_name(checks)],
    )


# --- Snapshots ---------------------------------------------------------------------------


def refresh_snapshot(*, now: datetime | None = None) -> ReliabilitySnapshot:
    """Compute the report and keep it (the periodic job; the caller commits)."""
    report = build_report(now=now)
    data = report.as_dict() | {"generated_at": report.generated_at.isoformat()}
    snapshot = ReliabilitySnapshot(generated_at=report.generated_at, report=data)
    db.session.add(snapshot)
    db.session.flush()
    keep = (
        select(ReliabilitySnapshot.id).order_by(ReliabilitySnapshot.id.desc()).limit(SNAPSHOTS_KEPT)
    )
    db.session.execute(
        delete(ReliabilitySnapshot).where(ReliabilitySnapshot.id.not_in(keep.scalar_subquery()))
    )
    return snapshot


def request_refresh(job_id: str) -> bool:
    """Queue ``reviews.jobs.refresh_reliability`` under ``job_id`` unless it already was
    (the outbox keeps job ids unique); the caller commits."""
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.job_id == job_id)):
        return False
    enqueue("reviews.jobs.refresh_reliability", job_id=job_id, job_timeout=REFRESH_TIMEOUT)
    return True


def latest_report() -> ReliabilityReport | None:
    """The newest stored report, or None before the job has run once."""
    snapshot = db.session.scalar(
        select(ReliabilitySnapshot).order_by(ReliabilitySnapshot.id.desc()).limit(1)
    )
    return None if snapshot is None else ReliabilityReport.from_dict(snapshot.report)


# --- CSV ---------------------------------------------------------------------------------

CSV_COLUMNS = (
    "section",
    "key",
    "label",
    "attempts",
    "pairs",
    "exact",
    "adjacent",
    "kappa",
    "weighted_kappa",
    "linear_weighted_kappa",
    "ac1",
)


def _csv_number(value: float | None) -> float | str:
    return "" if value is None or math.isnan(value) else round(value, 4)


def report_csv(report: ReliabilityReport) -> str:
    """The report's tables as one CSV, one row per group, sections in the first column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    sections = [
        ("overall", [report.overall]),
        ("reviewer", report.by_reviewer),
        ("credential", report.by_credential),
        ("criterion", report.by_criterion),
        ("month", report.monthly),
        ("pair", report.by_pair),
        ("check", report.checks),
    ]
    for section, rows in sections:
        for row in rows:
            figures = row.agreement
            writer.writerow(
                [
                    neutralise_formula(cell)
                    for cell in (
                        section,
                        row.key,
                        row.label,
                        row.attempts,
                        figures.pairs,
                        _csv_number(figures.exact),
                        _csv_number(figures.adjacent),
                        _csv_number(figures.kappa),
                        _csv_number(figures.weighted_kappa),
                        _csv_number(figures.linear_weighted_kappa),
                        _csv_number(figures.ac1),
                    )
                ]
            )
    return buffer.getvalue()


# --- Chart -------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 640, 280
CHART_MARGIN = {"left": 56, "right": 16, "top": 16, "bottom": 48}


def monthly_chart_svg(
    monthly: Sequence[AgreementRow], *, minimum: float | None = None, chart_id: str = "agreement"
) -> Markup:
    """A line chart of exact agreement per month, as inline SVG with a title and a
    description (the page puts the same numbers in a table next to it)."""
    chart_id = str(escape(chart_id))
    points = [
        (row.label, row.agreement.exact) for row in monthly if row.agreement.exact is not None
    ]
    left, right = CHART_MARGIN["left"], CHART_WIDTH - CHART_MARGIN["right"]
    top, bottom = CHART_MARGIN["top"], CHART_HEIGHT - CHART_MARGIN["bottom"]

    def x(position: int) -> float:
        if len(points) == 1:
            return (left + right) / 2
        return left + position * (right - left) / (len(points) - 1)

    def y(value: float) -> float:
        return bottom - value * (bottom - top)

    title = "Exact agreement between paired reviewers, by month"
    if points:
        low = min(points, key=lambda point: point[1])
        high = max(points, key=lambda point: point[1])
        description = (
            f"Exact agreement for {len(points)} month(s) from {points[0][0]} to {points[-1][0]}: "
            f"lowest {low[1]:.0%} in {low[0]}, highest {high[1]:.0%} in {high[0]}, "
            f"latest {points[-1][1]:.0%}."
        )
    else:
        description = "No double-scored attempts yet, so there is nothing to plot."
    if minimum is not None:
        description += f" The dashed line marks the minimum of {minimum:.0%}."
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        '<g fill="none" stroke="currentColor" stroke-opacity="0.25">',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>')
    parts.append("</g>")
    parts.append('<g fill="currentColor" font-size="12" text-anchor="end">')
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text x="{left - 8}" y="{y(tick) + 4:.1f}">{tick:.0%}</text>')
    parts.append("</g>")
    if minimum is not None:
        parts.append(
            f'<line class="chart-minimum" x1="{left}" x2="{right}" y1="{y(minimum):.1f}" '
            f'y2="{y(minimum):.1f}" stroke="currentColor" stroke-dasharray="6 4"/>'
        )
    if points:
        step = max(1, math.ceil(len(points) / 12))  # at most about twelve month labels
        parts.append('<g fill="currentColor" font-size="12" text-anchor="middle">')
        for position, (label, _value) in enumerate(points):
            if position % step == 0 or position == len(points) - 1:
                parts.append(
                    f'<text x="{x(position):.1f}" y="{bottom + 20}">{escape(label)}</text>'
                )
        parts.append("</g>")
        line = " ".join(
            f"{x(position):.1f},{y(value):.1f}" for position, (_label, value) in enumerate(points)
        )
        parts.append(
            f'<polyline class="chart-line" points="{line}" fill="none" '
            'stroke="currentColor" stroke-width="3"/>'
        )
        parts.append('<g fill="currentColor">')
        parts.extend(
            f'<circle cx="{x(position):.1f}" cy="{y(value):.1f}" r="4"/>'
            for position, (_label, value) in enumerate(points)
        )
        parts.append("</g>")
    else:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" '
            'text-anchor="middle" fill="currentColor" font-size="14">No data yet</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
