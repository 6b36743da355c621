"""Calibration: anchors with agreed "true" levels, reviewers-in-training scoring
them, and qualification per theme once their agreement clears the thresholds.

Rules, kept deliberately simple:

- An anchor is a submitted (no longer editable) submission; its true levels name a
  level of every criterion of the rubric version the submission's micro-credential
  pins. Marking the same submission again replaces its true levels.
- A reviewer scores each anchor at most once per calibration round: scoring it
  again replaces the earlier score, but only while the reviewer is not qualified
  for the anchor's theme (a qualified reviewer's scores are locked).
- Qualification is judged once the reviewer has scored every anchor of the theme:
  criterion-level pairs (true level, reviewer's level), each level as its index in
  the criterion's ordered levels, pooled over the anchors. The reviewer qualifies
  when exact agreement >= CALIBRATION_MIN_EXACT and quadratic weighted kappa >=
  CALIBRATION_MIN_WEIGHTED_KAPPA; the qualification lasts CALIBRATION_VALID_MONTHS.
- Recalibration: an expired qualification does not count, and only scores given
  after it was granted count towards the next one, so a returning reviewer scores
  the anchor set afresh.

Services flush; the caller commits.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import selectinload

from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from core.extensions import db
from evidence.models import Submission
from reviews.models import CalibrationAnchor, CalibrationScore, ReviewerQualification
from reviews.statistics import Agreement, agreement
from rubrics.models import RubricVersion

# Comparisons with the thresholds forgive float rounding in the kappa sums.
TOLERANCE = 1e-9


# --- Levels ------------------------------------------------------------------------------


def level_indexes(version: RubricVersion) -> dict[str, dict[str, int]]:
    """``{criterion key: {level name: index}}``, index 0 for the criterion's first
    (lowest) level, in the criterion's own level order."""
    return {
        criterion.key: {level.name: index for index, level in enumerate(criterion.levels)}
        for criterion in version.criteria
    }


def clean_levels(version: RubricVersion, levels: Mapping[str, Any]) -> dict[str, str]:
    """``{criterion key: level name}`` for every criterion of ``version``, or
    InvalidError listing each criterion that is missing, unknown or misspelled."""
    indexes = level_indexes(version)
    problems: dict[str, list[str]] = {
        key: ["This rubric version has no such criterion."]
        for key in sorted(set(levels) - set(indexes))
    }
    for key, names in indexes.items():
        chosen = levels.get(key)
        if not chosen:
            problems[key] = ["Choose a level."]
        elif not isinstance(chosen, str) or chosen not in names:
            problems[key] = [f"{chosen!r} is not a level of {key}."]
    if problems:
        raise InvalidError("Choose one of its levels for every criterion.", problems)
    return {key: levels[key] for key in indexes}


# --- Time --------------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- Qualifications ----------------------------------------------------------------------


def unexpired(now: datetime | None = None) -> ColumnElement[bool]:
    """SQL condition: the qualification has not expired (no expiry date counts)."""
    return or_(
        ReviewerQualification.expires_at.is_(None),
        ReviewerQualification.expires_at > (now or utcnow()),
    )


def is_qualified(
    user_id: int, theme: str, code: str | None = None, *, now: datetime | None = None
) -> bool:
    """Whether ``user_id`` may review work of ``theme`` (or of the one micro-credential
    ``code``) now: a qualification for either scope that has not expired."""
    scopes = [theme] if code is None else [theme, code]
    found = db.session.scalar(
        select(ReviewerQualification.id)
        .where(
            ReviewerQualification.user_id == user_id,
            ReviewerQualification.scope.in_(scopes),
            unexpired(now),
        )
        .limit(1)
    )
    return found is not None


def _theme_qualification(user_id: int, theme: str) -> ReviewerQualification | None:
    return db.session.scalar(
        select(ReviewerQualification).where(
            ReviewerQualification.user_id == user_id, ReviewerQualification.scope == theme
        )
    )


def thresholds() -> dict[str, float]:
    """The configured minimums a reviewer must reach to qualify."""
    return {
        "min_exact": float(current_app.config.get("CALIBRATION_MIN_EXACT", 0.80)),
        "min_weighted_kappa": float(current_app.config.get("CALIBRATION_MIN_WEIGHTED_KAPPA", 0.70)),
    }


def meets_thresholds(figures: Agreement) -> bool:
    """Exact agreement and quadratic weighted kappa at or above the configured minimums."""
    minimums = thresholds()
    return (
        figures.exact is not None
        and figures.weighted_kappa is not None
        and figures.exact >= minimums["min_exact"] - TOLERANCE
        and figures.weighted_kappa >= minimums["min_weighted_kappa"] - TOLERANCE
    )


# --- Anchors -----------------------------------------------------------------------------


def sample_name(anchor: CalibrationAnchor) -> str:
    """What reviewers see instead of anything about the teacher."""
    return f"Calibration sample {anchor.id}"


def get_anchor(anchor_id: int) -> CalibrationAnchor:
    anchor = db.session.get(CalibrationAnchor, anchor_id)
    if anchor is None:
        raise NotFoundError("No such calibration sample.")
    return anchor


def list_anchors(theme: str | None = None) -> list[CalibrationAnchor]:
    query = select(CalibrationAnchor).options(selectinload(CalibrationAnchor.submission))
    if theme is not None:
        query = query.where(CalibrationAnchor.theme == theme)
    return list(db.session.scalars(query.order_by(CalibrationAnchor.id)))


def find_anchor(submission_id: int) -> CalibrationAnchor | None:
    return db.session.scalar(
        select(CalibrationAnchor).where(CalibrationAnchor.submission_id == submission_id)
    )


def anchor_themes() -> list[str]:
    """Themes that have at least one anchor, in a stable order."""
    return sorted(set(db.session.scalars(select(CalibrationAnchor.theme).distinct())))


def get_anchorable_submission(submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        raise NotFoundError(f"No submission {submission_id}.")
    if submission.editable:
        raise ConflictError(
            "This submission is still being edited by its teacher; only submitted work "
            "can be a calibration anchor."
        )
    return submission


def mark_anchor(
    submission_id: int, true_levels: Mapping[str, Any], *, actor_id: int
) -> CalibrationAnchor:
    """Make a submission an anchor with its agreed levels (or replace its levels)."""
    submission = get_anchorable_submission(submission_id)
    credential = submission.credential
    cleaned = clean_levels(credential.rubric_version, true_levels)
    anchor = find_anchor(submission.id)
    if anchor is None:
        anchor = CalibrationAnchor(
            submission_id=submission.id,
            theme=credential.theme,
            rubric_version_id=credential.rubric_version_id,
            true_levels=cleaned,
            created_by_id=actor_id,
        )
        db.session.add(anchor)
        db.session.flush()
        audit.record(
            "calibration.anchor_created",
            "calibration_anchor",
            anchor.id,
            actor_id=actor_id,
            after={"submission_id": submission.id, "theme": anchor.theme, "levels": cleaned},
        )
        return anchor
    before = dict(anchor.true_levels)
    anchor.true_levels = cleaned
    db.session.flush()
    audit.record(
        "calibration.anchor_updated",
        "calibration_anchor",
        anchor.id,
        actor_id=actor_id,
        before={"levels": before},
        after={"levels": cleaned},
    )
    return anchor


# --- Reviewers' scores and figures -------------------------------------------------------


@dataclass(frozen=True)
class CalibrationFigures:
    """One reviewer's standing in one theme."""

    theme: str
    anchors_total: int
    scored_anchor_ids: frozenset[int]
    agreement: Agreement
    qualified: bool
    qualified_until: datetime | None = None

    @property
    def anchors_scored(self) -> int:
        return len(self.scored_anchor_ids)

    @property
    def complete(self) -> bool:
        return self.anchors_total > 0 and self.anchors_scored >= self.anchors_total


def anchors_for(user_id: int, theme: str) -> list[CalibrationAnchor]:
    """The anchors a reviewer calibrates on: never their own submissions."""
    return [anchor for anchor in list_anchors(theme) if anchor.submission.teacher_id != user_id]


def _is_current(qualification: ReviewerQualification | None, now: datetime) -> bool:
    return qualification is not None and (
        qualification.expires_at is None or qualification.expires_at > now
    )


def figures_for(user_id: int, theme: str, *, now: datetime | None = None) -> CalibrationFigures:
    """The reviewer's agreement with the true levels over this round's scores."""
    now = now or utcnow()
    anchors = {anchor.id: anchor for anchor in anchors_for(user_id, theme)}
    qualification = _theme_qualification(user_id, theme)
    current = _is_current(qualification, now)
    query = select(CalibrationScore).where(
        CalibrationScore.reviewer_id == user_id, CalibrationScore.anchor_id.in_(anchors)
    )
    if qualification is not None and not current:
        # Recalibration: scores from before the expired qualification do not count.
        query = query.where(CalibrationScore.submitted_at > qualification.qualified_at)
    scores = list(db.session.scalars(query))
    versions = {
        version.id: level_indexes(version)
        for version in db.session.scalars(
            select(RubricVersion).where(
                RubricVersion.id.in_({anchor.rubric_version_id for anchor in anchors.values()})
            )
        )
    }
    true_indexes: list[int] = []
    given_indexes: list[int] = []
    categories = 1
    for score in scores:
        anchor = anchors[score.anchor_id]
        for key, names in versions[anchor.rubric_version_id].items():
            true_name, given_name = anchor.true_levels.get(key), score.levels.get(key)
            if true_name in names and given_name in names:
                true_indexes.append(names[true_name])
                given_indexes.append(names[given_name])
                categories = max(categories, len(names))
    return CalibrationFigures(
        theme=theme,
        anchors_total=len(anchors),
        scored_anchor_ids=frozenset(score.anchor_id for score in scores),
        agreement=agreement(true_indexes, given_indexes, categories),
        qualified=current,
        qualified_until=qualification.expires_at if current and qualification else None,
    )


def evaluate(user_id: int, theme: str, *, now: datetime | None = None) -> CalibrationFigures:
    """Qualify the reviewer for ``theme`` if this round is complete and good enough."""
    now = now or utcnow()
    figures = figures_for(user_id, theme, now=now)
    if figures.qualified or not figures.complete or not meets_thresholds(figures.agreement):
        return figures
    months = int(current_app.config.get("CALIBRATION_VALID_MONTHS", 24))
    qualification = _theme_qualification(user_id, theme)
    before = None
    if qualification is None:
        qualification = ReviewerQualification(user_id=user_id, scope=theme)
        db.session.add(qualification)
    else:
        before = {
            "qualified_at": qualification.qualified_at.isoformat(),
            "expires_at": qualification.expires_at.isoformat()
            if qualification.expires_at
            else None,
        }
    qualification.qualified_at = now
    qualification.expires_at = add_months(now, months)
    qualification.exact_agreement = figures.agreement.exact
    qualification.weighted_kappa = figures.agreement.weighted_kappa
    qualification.source = "calibration"
    db.session.flush()
    audit.record(
        "calibration.qualified",
        "reviewer_qualification",
        qualification.id,
        actor_id=user_id,
        before=before,
        after={
            "user_id": user_id,
            "scope": theme,
            "expires_at": qualification.expires_at.isoformat(),
            "exact_agreement": figures.agreement.exact,
            "weighted_kappa": figures.agreement.weighted_kappa,
            "pairs": figures.agreement.pairs,
        },
    )
    return figures_for(user_id, theme, now=now)


def record_score(
    anchor_id: int, user_id: int, levels: Mapping[str, Any], *, now: datetime | None = None
) -> CalibrationFigures:
    """Store a reviewer's levels for an anchor, then re-judge their qualification."""
    now = now or utcnow()
    anchor = get_anchor(anchor_id)
    if anchor.submission.teacher_id == user_id:
        raise ForbiddenError("You cannot calibrate on your own submission.")
    if is_qualified(user_id, anchor.theme, now=now):
        raise ConflictError(
            "You are already qualified for this theme; your calibration scores are locked "
            "until the qualification expires."
        )
    cleaned = clean_levels(db.session.get(RubricVersion, anchor.rubric_version_id), levels)
    score = db.session.scalar(
        select(CalibrationScore).where(
            CalibrationScore.anchor_id == anchor.id, CalibrationScore.reviewer_id == user_id
        )
    )
    before = None
    if score is None:
        score = CalibrationScore(anchor_id=anchor.id, reviewer_id=user_id)
        db.session.add(score)
    else:
        before = {"levels": dict(score.levels), "submitted_at": score.submitted_at.isoformat()}
    score.levels = cleaned
    score.submitted_at = now
    db.session.flush()
    audit.record(
        "calibration.scored",
        "calibration_score",
        score.id,
        actor_id=user_id,
        before=before,
        after={"anchor_id": anchor.id, "theme": anchor.theme, "levels": cleaned},
    )
    return evaluate(user_id, anchor.theme, now=now)


def figures_by_theme(
    user_id: int, themes: Iterable[str] | None = None, *, now: datetime | None = None
) -> list[CalibrationFigures]:
    """The reviewer's figures for every theme that has anchors (or for ``themes``)."""
    return [
        figures_for(user_id, theme, now=now)
        for theme in (anchor_themes() if themes is None else themes)
    ]
