"""Inter-rater reliability from real double-scored attempts.

A pair is two SUBMITTED primary assignments on the same submission; each criterion
both scored gives one criterion pair (level indexes in the criterion's ordered
levels). Figures are grouped per reviewer (against whoever they were paired with),
per micro-credential code, per criterion (a key means something only within one
micro-credential, so the group is code + key), and per month of the pair's later
submission. Drift alerts flag reviewers whose recent agreement fell.

The report is built from a constant number of queries (one for the assignments
with the columns needed, a few for the rubric levels), then computed in Python.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import select

from accounts.models import User
from core.csvsafe import neutralise_formula
from core.db_types import utcnow
from core.extensions import db
from evidence.models import Submission
from reviews.calibration import level_indexes, thresholds
from reviews.models import AssignmentRole, AssignmentStatus, ReviewAssignment
from reviews.statistics import Agreement, agreement
from rubrics.models import RubricVersion

DRIFT_WINDOW = timedelta(days=90)
DRIFT_DROP = 0.15  # recent exact agreement this far below the earlier figure is drift
DRIFT_MIN_PAIRS = 10  # criterion pairs needed on each side before judging drift


@dataclass(frozen=True)
class CriterionPair:
    """Two reviewers' levels for one criterion of one submission."""

    submission_id: int
    code: str
    criterion_key: str
    first_reviewer_id: int
    second_reviewer_id: int
    first_index: int
    second_index: int
    categories: int
    at: datetime  # when the later of the two scores was submitted


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "minimum_exact": self.minimum_exact,
            "overall": self.overall.as_dict(),
            "by_reviewer": [row.as_dict() for row in self.by_reviewer],
            "by_credential": [row.as_dict() for row in self.by_credential],
            "by_criterion": [row.as_dict() for row in self.by_criterion],
            "monthly": [row.as_dict() for row in self.monthly],
            "drift_alerts": [alert.as_dict() for alert in self.drift_alerts],
        }


# --- Loading -----------------------------------------------------------------------------


def load_pairs() -> tuple[list[CriterionPair], dict[int, str]]:
    """Every criterion pair from double-scored attempts, and reviewer names by id."""
    rows = db.session.execute(
        select(
            ReviewAssignment.submission_id,
            ReviewAssignment.reviewer_id,
            ReviewAssignment.submitted_at,
            ReviewAssignment.rubric_version_id,
            ReviewAssignment.levels,
            Submission.credential_code,
            User.name,
        )
        .join(Submission, Submission.id == ReviewAssignment.submission_id)
        .join(User, User.id == ReviewAssignment.reviewer_id)
        .where(
            ReviewAssignment.status == AssignmentStatus.SUBMITTED,
            ReviewAssignment.role == AssignmentRole.PRIMARY,
            ReviewAssignment.submitted_at.is_not(None),
        )
        .order_by(
            ReviewAssignment.submission_id, ReviewAssignment.submitted_at, ReviewAssignment.id
        )
    ).all()
    names = {row.reviewer_id: row.name for row in rows}
    version_ids = {row.rubric_version_id for row in rows}
    indexes = {
        version.id: level_indexes(version)
        for version in db.session.scalars(
            select(RubricVersion).where(RubricVersion.id.in_(version_ids))
        )
    }
    pairs: list[CriterionPair] = []
    for _submission_id, group in itertools.groupby(rows, key=lambda row: row.submission_id):
        for first, second in itertools.combinations(list(group), 2):
            pairs.extend(_criterion_pairs(first, second, indexes))
    return pairs, names


def _criterion_pairs(
    first: Any, second: Any, indexes: dict[int, dict[str, dict[str, int]]]
) -> Iterable[CriterionPair]:
    first_levels = indexes.get(first.rubric_version_id, {})
    second_levels = indexes.get(second.rubric_version_id, {})
    for key, first_names in first_levels.items():
        second_names = second_levels.get(key)
        first_level = (first.levels or {}).get(key) or {}
        second_level = (second.levels or {}).get(key) or {}
        if second_names is None:
            continue
        first_index = first_names.get(first_level.get("level"))
        second_index = second_names.get(second_level.get("level"))
        if first_index is None or second_index is None:
            continue
        yield CriterionPair(
            submission_id=first.submission_id,
            code=first.credential_code,
            criterion_key=key,
            first_reviewer_id=first.reviewer_id,
            second_reviewer_id=second.reviewer_id,
            first_index=first_index,
            second_index=second_index,
            categories=max(len(first_names), len(second_names)),
            at=max(first.submitted_at, second.submitted_at),
        )


# --- Figures -----------------------------------------------------------------------------


def pair_agreement(pairs: Sequence[CriterionPair], *, reviewer_id: int | None = None) -> Agreement:
    """Agreement over ``pairs``; with ``reviewer_id``, that reviewer's levels come first
    (no figure depends on rater order, but the orientation is then meaningful)."""
    own: list[int] = []
    other: list[int] = []
    for pair in pairs:
        if reviewer_id is not None and pair.second_reviewer_id == reviewer_id:
            own.append(pair.second_index)
            other.append(pair.first_index)
        else:
            own.append(pair.first_index)
            other.append(pair.second_index)
    categories = max((pair.categories for pair in pairs), default=1)
    return agreement(own, other, categories)


def _row(key: str, label: str, pairs: Sequence[CriterionPair], **kwargs: Any) -> AgreementRow:
    return AgreementRow(
        key=key,
        label=label,
        attempts=len({pair.submission_id for pair in pairs}),
        agreement=pair_agreement(pairs, **kwargs),
    )


def _drift(
    reviewer_id: int, name: str, pairs: Sequence[CriterionPair], now: datetime, minimum: float
) -> DriftAlert | None:
    since = now - DRIFT_WINDOW
    recent = pair_agreement([p for p in pairs if p.at >= since], reviewer_id=reviewer_id)
    earlier = pair_agreement([p for p in pairs if p.at < since], reviewer_id=reviewer_id)
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


def build_report(*, now: datetime | None = None) -> ReliabilityReport:
    """Agreement overall, per reviewer, per micro-credential, per criterion and per
    month, with drift alerts (recent = the last 90 days before ``now``)."""
    now = now or utcnow()
    minimum = thresholds()["min_exact"]
    pairs, names = load_pairs()
    by_reviewer: dict[int, list[CriterionPair]] = defaultdict(list)
    by_code: dict[str, list[CriterionPair]] = defaultdict(list)
    by_criterion: dict[tuple[str, str], list[CriterionPair]] = defaultdict(list)
    by_month: dict[str, list[CriterionPair]] = defaultdict(list)
    for pair in pairs:
        by_reviewer[pair.first_reviewer_id].append(pair)
        by_reviewer[pair.second_reviewer_id].append(pair)
        by_code[pair.code].append(pair)
        by_criterion[(pair.code, pair.criterion_key)].append(pair)
        by_month[pair.at.strftime("%Y-%m")].append(pair)
    reviewer_order = sorted(by_reviewer, key=lambda rid: (names.get(rid, ""), rid))
    alerts = [
        _drift(rid, names.get(rid, ""), by_reviewer[rid], now, minimum) for rid in reviewer_order
    ]
    return ReliabilityReport(
        generated_at=now,
        minimum_exact=minimum,
        overall=_row("all", "All double-scored attempts", pairs),
        by_reviewer=[
            _row(str(rid), names.get(rid, ""), by_reviewer[rid], reviewer_id=rid)
            for rid in reviewer_order
        ],
        by_credential=[_row(code, code, by_code[code]) for code in sorted(by_code)],
        by_criterion=[
            _row(f"{code}:{key}", f"{code} {key}", by_criterion[(code, key)])
            for code, key in sorted(by_criterion)
        ],
        monthly=[_row(month, month, by_month[month]) for month in sorted(by_month)],
        drift_alerts=[alert for alert in alerts if alert is not None],
    )


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
