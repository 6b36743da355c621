"""Calibration and reliability: admin pages, reviewer pages, and their JSON API.

Reviewers meet anchors only as "Calibration sample N": no teacher name, email,
submission number or original file name reaches them, on a page or in the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError

from accounts.models import Role
from accounts.policy import ADMIN_ROLES, is_admin, roles_required
from core.api_support import api_blueprint, register_api
from core.db_types import utcnow
from core.errors import NotFoundError, ServiceError
from core.extensions import db
from credentials.models import Theme
from evidence.downloads import stream_file
from evidence.filetypes import extension_for
from reviews import calibration, reliability
from reviews.models import CalibrationAnchor
from rubrics.models import RubricVersion

bp = Blueprint("reviews_calibration", __name__)
admin_only = roles_required(*ADMIN_ROLES)
reviewer_only = roles_required(Role.REVIEWER)


def register(app: Flask) -> None:
    """Register the pages and the API (called from ``reviews.init_app``)."""
    app.register_blueprint(bp)
    register_api(app, api_blp)


# --- Shared helpers --------------------------------------------------------------------


def theme_label(theme: str) -> str:
    try:
        return Theme(theme).label
    except ValueError:
        return theme


def percent(value: float | None) -> str:
    """One decimal, so 79.9% never shows as a qualifying 80%."""
    if value is None:
        return "not measurable"
    return f"{value:.1%}".replace(".0%", "%")


def coefficient(value: float | None) -> str:
    return "not measurable" if value is None else f"{value:.2f}"


@bp.context_processor
def _helpers() -> dict[str, Callable[..., str]]:
    return {
        "theme_label": theme_label,
        "percent": percent,
        "coefficient": coefficient,
        "sample_name": calibration.sample_name,
    }


def _levels_from_form(version: RubricVersion) -> dict[str, str]:
    return {
        criterion.key: request.form.get(f"level-{criterion.key}", "").strip()
        for criterion in version.criteria
    }


def _csv_response(report: reliability.ReliabilityReport) -> Response:
    stamp = report.generated_at.strftime("%Y-%m-%d")
    return Response(
        reliability.report_csv(report),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="reliability-{stamp}.csv"',
            "Cache-Control": "private, no-store",
        },
    )


def _outcome_message(figures: calibration.CalibrationFigures) -> tuple[str, str]:
    """What to tell a reviewer after scoring, and the flash category."""
    label = theme_label(figures.theme)
    if figures.qualified:
        until = figures.qualified_until.strftime("%Y-%m-%d") if figures.qualified_until else ""
        return (
            f"Score saved. You are now qualified to review {label} until {until}.",
            "success",
        )
    if not figures.complete:
        left = figures.anchors_total - figures.anchors_scored
        return (
            f"Score saved. Score {left} more calibration sample(s) in {label} to see "
            "whether you qualify.",
            "success",
        )
    return (
        f"Score saved. Your agreement in {label} is not yet above the thresholds; look again "
        "at the rubric descriptors and re-score the samples you are unsure about.",
        "info",
    )


# --- Admin pages ---------------------------------------------------------------------


def _admin_page(
    status: int = 200,
    *,
    submission: Any = None,
    chosen: dict[str, str] | None = None,
    errors: dict[str, Any] | None = None,
    submission_id: str = "",
) -> tuple[str, int]:
    return render_template(
        "reviews/calibration_admin.html",
        anchors=calibration.list_anchors(),
        submission=submission,
        version=submission.credential.rubric_version if submission is not None else None,
        chosen=chosen or {},
        errors=errors or {},
        submission_id=submission_id,
    ), status


@bp.get("/admin/calibration")
@admin_only
def admin_calibration() -> Any:
    raw_id = request.args.get("submission_id", "").strip()
    if not raw_id:
        return _admin_page()
    if not raw_id.isdigit():
        return _admin_page(
            422, errors={"submission_id": ["Enter the submission's number."]}, submission_id=raw_id
        )
    try:
        submission = calibration.get_anchorable_submission(int(raw_id))
    except ServiceError as exc:
        return _admin_page(
            exc.status, errors={"submission_id": [exc.message]}, submission_id=raw_id
        )
    existing = calibration.find_anchor(submission.id)
    return _admin_page(
        submission=submission,
        chosen=dict(existing.true_levels) if existing else {},
        submission_id=raw_id,
    )


@bp.post("/admin/calibration")
@admin_only
def admin_mark_anchor() -> Any:
    raw_id = request.form.get("submission_id", "").strip()
    if not raw_id.isdigit():
        return _admin_page(
            422, errors={"submission_id": ["Enter the submission's number."]}, submission_id=raw_id
        )
    submission = None
    chosen: dict[str, str] = {}
    try:
        submission = calibration.get_anchorable_submission(int(raw_id))
        chosen = _levels_from_form(submission.credential.rubric_version)
        anchor = calibration.mark_anchor(submission.id, chosen, actor_id=current_user.id)
    except ServiceError as exc:
        db.session.rollback()
        if submission is not None:
            submission = calibration.get_anchorable_submission(int(raw_id))
        return _admin_page(
            exc.status,
            submission=submission,
            chosen=chosen,
            errors=exc.errors or {"submission_id": [exc.message]},
            submission_id=raw_id,
        )
    db.session.commit()
    flash(
        f"Submission {anchor.submission_id} is {calibration.sample_name(anchor)} "
        f"for {theme_label(anchor.theme)}.",
        "success",
    )
    return redirect(url_for("reviews_calibration.admin_calibration"))


REPORT_PENDING = (
    "The reliability report has not been computed yet. It is being computed now; "
    "try again in a minute."
)


def _stored_report() -> reliability.ReliabilityReport | None:
    """The latest snapshot; before the first one, ask the job for it."""
    report = reliability.latest_report()
    if report is None and reliability.request_refresh(f"reliability-first-{utcnow():%Y%m%d%H%M}"):
        try:
            db.session.commit()  # at most one request a minute asks
        except IntegrityError:  # a request running alongside asked first: one job is enough
            db.session.rollback()
    return report


def _required_report() -> reliability.ReliabilityReport:
    report = _stored_report()
    if report is None:
        raise NotFoundError(REPORT_PENDING)
    return report


@bp.get("/admin/reliability")
@admin_only
def admin_reliability() -> Any:
    report = _stored_report()
    if report is None:
        return render_template("reviews/reliability_report.html", report=None)
    return render_template(
        "reviews/reliability_report.html",
        report=report,
        chart=reliability.monthly_chart_svg(
            report.monthly,
            minimum=report.minimum_exact,
            chart_id="monthly-agreement",
        ),
        drift_window_days=reliability.DRIFT_WINDOW.days,
        pair_min_attempts=reliability.PAIR_MIN_ATTEMPTS,
        pairs_shown=reliability.PAIRS_SHOWN,
    )


@bp.get("/admin/reliability.csv")
@admin_only
def admin_reliability_csv() -> Any:
    return _csv_response(_required_report())


# --- Reviewer pages ------------------------------------------------------------------


@bp.get("/reviewer/calibration")
@reviewer_only
def reviewer_calibration() -> Any:
    now = utcnow()
    sections = [
        {
            "figures": figures,
            "anchors": calibration.anchors_for(current_user.id, figures.theme),
        }
        for figures in calibration.figures_by_theme(current_user.id, now=now)
    ]
    return render_template(
        "reviews/calibration_reviewer.html", sections=sections, thresholds=calibration.thresholds()
    )


def _anchor_for_reviewer(anchor_id: int) -> CalibrationAnchor:
    """The anchor, unless it is the reviewer's own work (then it does not exist for them)."""
    anchor = calibration.get_anchor(anchor_id)
    if anchor.submission.teacher_id == current_user.id:
        raise NotFoundError("No such calibration sample.")
    return anchor


@bp.route("/reviewer/calibration/<int:anchor_id>", methods=["GET", "POST"])
@reviewer_only
def reviewer_score(anchor_id: int) -> Any:
    anchor = _anchor_for_reviewer(anchor_id)
    if calibration.is_qualified(current_user.id, anchor.theme):
        flash(f"You are already qualified for {theme_label(anchor.theme)}.", "info")
        return redirect(url_for("reviews_calibration.reviewer_calibration"))
    version = db.session.get(RubricVersion, anchor.rubric_version_id)
    errors: dict[str, Any] = {}
    chosen: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        chosen = _levels_from_form(version)
        try:
            figures = calibration.record_score(anchor.id, current_user.id, chosen)
        except ServiceError as exc:
            db.session.rollback()
            anchor = _anchor_for_reviewer(anchor_id)
            version = db.session.get(RubricVersion, anchor.rubric_version_id)
            errors, status = exc.errors or {"_schema": [exc.message]}, exc.status
        else:
            db.session.commit()
            message, category = _outcome_message(figures)
            flash(message, category)
            return redirect(
                url_for("reviews_calibration.reviewer_calibration") + f"#theme-{figures.theme}"
            )
    return render_template(
        "reviews/calibration_score.html",
        anchor=anchor,
        submission=anchor.submission,
        version=version,
        chosen=chosen,
        errors=errors,
    ), status


@bp.get("/reviewer/calibration/<int:anchor_id>/items/<int:item_id>/file")
@reviewer_only
def reviewer_evidence_file(anchor_id: int, item_id: int) -> Any:
    """Blind download, named after the sample and part, never the teacher's file name."""
    anchor = _anchor_for_reviewer(anchor_id)
    item = next((i for i in anchor.submission.items if i.id == item_id and i.file), None)
    if item is None:
        raise NotFoundError("No such file.")
    extension = extension_for(item.file.media_type)
    return stream_file(item.file, f"calibration-sample-{anchor.id}-{item.part_key}{extension}")


# --- JSON API ------------------------------------------------------------------------

api_blp = api_blueprint(
    "reviews_calibration_api",
    __name__,
    url_prefix="",
    description="Calibration anchors and reviewers' calibration scores; scoring "
    "reliability from double-scored attempts (admins).",
)


class AnchorCreateSchema(Schema):
    submission_id = fields.Integer(required=True)
    levels = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "{criterion key: true level name} for every criterion"},
    )


class CalibrationScoreSchema(Schema):
    levels = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "{criterion key: level name} for every criterion"},
    )


class AnchorQuerySchema(Schema):
    theme = fields.String(load_default=None)


class CriterionLevelsSchema(Schema):
    key = fields.String()
    title = fields.String()
    levels = fields.List(fields.String(), metadata={"description": "Lowest first"})


class AnchorSchema(Schema):
    """Reviewers get the sample name and rubric; admins also the submission and true levels."""

    id = fields.Integer()
    name = fields.String(metadata={"description": "Calibration sample N"})
    theme = fields.String()
    credential_code = fields.String()
    credential_title = fields.String()
    rubric_version_id = fields.Integer()
    criteria = fields.List(fields.Nested(CriterionLevelsSchema))
    submission_id = fields.Integer(metadata={"description": "Admins only"})
    true_levels = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "Admins only"}
    )
    created_at = fields.DateTime(metadata={"description": "Admins only"})


class AgreementSchema(Schema):
    pairs = fields.Integer()
    exact = fields.Float(allow_none=True)
    adjacent = fields.Float(allow_none=True)
    kappa = fields.Float(allow_none=True)
    weighted_kappa = fields.Float(allow_none=True, metadata={"description": "Quadratic weights"})
    linear_weighted_kappa = fields.Float(allow_none=True)
    ac1 = fields.Float(allow_none=True, metadata={"description": "Gwet's AC1"})


class CalibrationFiguresSchema(Schema):
    theme = fields.String()
    anchors_total = fields.Integer()
    anchors_scored = fields.Integer()
    complete = fields.Boolean()
    qualified = fields.Boolean()
    qualified_until = fields.DateTime(allow_none=True)
    agreement = fields.Nested(AgreementSchema)
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float())


class ReliabilityRowSchema(AgreementSchema):
    key = fields.String()
    label = fields.String()
    attempts = fields.Integer()


class DriftAlertSchema(Schema):
    reviewer_id = fields.Integer()
    reviewer_name = fields.String()
    recent = fields.Nested(AgreementSchema)
    earlier = fields.Nested(AgreementSchema)
    reasons = fields.List(fields.String())


class ReliabilityReportSchema(Schema):
    generated_at = fields.DateTime()
    minimum_exact = fields.Float()
    overall = fields.Nested(ReliabilityRowSchema)
    by_reviewer = fields.List(fields.Nested(ReliabilityRowSchema))
    by_credential = fields.List(fields.Nested(ReliabilityRowSchema))
    by_criterion = fields.List(fields.Nested(ReliabilityRowSchema))
    monthly = fields.List(fields.Nested(ReliabilityRowSchema))
    pair_window = fields.Integer()
    by_pair = fields.List(fields.Nested(ReliabilityRowSchema))
    checks = fields.List(fields.Nested(ReliabilityRowSchema))
    drift_alerts = fields.List(fields.Nested(DriftAlertSchema))


def _anchor_document(anchor: CalibrationAnchor, *, admin: bool) -> dict[str, Any]:
    version = db.session.get(RubricVersion, anchor.rubric_version_id)
    credential = anchor.submission.credential
    document: dict[str, Any] = {
        "id": anchor.id,
        "name": calibration.sample_name(anchor),
        "theme": anchor.theme,
        "credential_code": credential.code,
        "credential_title": credential.title,
        "rubric_version_id": anchor.rubric_version_id,
        "criteria": [
            {
                "key": criterion.key,
                "title": criterion.title,
                "levels": [level.name for level in criterion.levels],
            }
            for criterion in (version.criteria if version else [])
        ],
    }
    if admin:
        document |= {
            "submission_id": anchor.submission_id,
            "true_levels": anchor.true_levels,
            "created_at": anchor.created_at,
        }
    return document


def _figures_document(figures: calibration.CalibrationFigures) -> dict[str, Any]:
    return {
        "theme": figures.theme,
        "anchors_total": figures.anchors_total,
        "anchors_scored": figures.anchors_scored,
        "complete": figures.complete,
        "qualified": figures.qualified,
        "qualified_until": figures.qualified_until,
        "agreement": figures.agreement.as_dict(),
        "thresholds": calibration.thresholds(),
    }


@api_blp.route("/calibration/anchors")
class Anchors(MethodView):
    @roles_required(Role.REVIEWER, *ADMIN_ROLES)
    @api_blp.arguments(AnchorQuerySchema, location="query")
    @api_blp.response(200, AnchorSchema(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        """Anchors: all with true levels (admins), or the samples you can calibrate on"""
        if is_admin(current_user):
            return [
                _anchor_document(anchor, admin=True)
                for anchor in calibration.list_anchors(query["theme"])
            ]
        themes = [query["theme"]] if query["theme"] else calibration.anchor_themes()
        return [
            _anchor_document(anchor, admin=False)
            for theme in themes
            for anchor in calibration.anchors_for(current_user.id, theme)
        ]

    @admin_only
    @api_blp.arguments(AnchorCreateSchema)
    @api_blp.response(201, AnchorSchema)
    @api_blp.alt_response(422, description="A criterion has no level or an unknown one")
    def post(self, data: dict[str, Any]) -> Any:
        """Mark a submission as an anchor with its true levels (or replace them)"""
        anchor = calibration.mark_anchor(
            data["submission_id"], data["levels"], actor_id=current_user.id
        )
        db.session.commit()
        return _anchor_document(anchor, admin=True)


@api_blp.route("/calibration/anchors/<int:anchor_id>/scores")
class AnchorScores(MethodView):
    @reviewer_only
    @api_blp.arguments(CalibrationScoreSchema)
    @api_blp.response(201, CalibrationFiguresSchema)
    @api_blp.alt_response(409, description="Already qualified: scores are locked")
    def post(self, data: dict[str, Any], anchor_id: int) -> Any:
        """Score a calibration sample; answers with your figures for its theme"""
        _anchor_for_reviewer(anchor_id)
        figures = calibration.record_score(anchor_id, current_user.id, data["levels"])
        db.session.commit()
        return _figures_document(figures)


@api_blp.route("/calibration/me")
class MyCalibration(MethodView):
    @reviewer_only
    @api_blp.response(200, CalibrationFiguresSchema(many=True))
    def get(self) -> Any:
        """Your agreement with the true levels and your qualification, per theme"""
        return [_figures_document(f) for f in calibration.figures_by_theme(current_user.id)]


@api_blp.route("/reliability")
class Reliability(MethodView):
    @admin_only
    @api_blp.response(200, ReliabilityReportSchema)
    def get(self) -> Any:
        """Agreement between paired reviewers: overall, per reviewer, credential,
        criterion, month and reviewer pair (their last pair_window attempts together),
        agreement with check submissions' known levels, and drift alerts; as computed at
        generated_at by the hourly job; the monthly trend covers the last 24 months"""
        return _required_report().as_dict()


@api_blp.route("/reliability.csv")
class ReliabilityCsv(MethodView):
    @admin_only
    @api_blp.response(200, {"type": "string"}, content_type="text/csv")
    def get(self) -> Any:
        """The reliability report as CSV (text cells safe to open in a spreadsheet)"""
        return _csv_response(_required_report())
