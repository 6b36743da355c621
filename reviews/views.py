"""Reviewer pages (queue, blind scoring), teacher appeals, admin operations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select

from accounts.models import Role, User, UserRole
from accounts.policy import ADMIN_ROLES, roles_required
from core.errors import InvalidError, NotFoundError, ServiceError
from core.extensions import db
from core.forms import parse_form
from evidence import services as evidence
from evidence.downloads import stream_file
from evidence.filetypes import extension_for
from reviews import notifications, services
from reviews.models import ReviewAssignment
from reviews.schemas import (
    AppealSchema,
    ConflictSchema,
    ExtraAttemptSchema,
    ManualAssignSchema,
    PreferenceSchema,
    ProfileSchema,
    QueueQuerySchema,
)
from rubrics.models import RubricVersion

bp = Blueprint("reviews", __name__)


@bp.app_template_global("pseudonym")
def _pseudonym(submission_id: int) -> str:
    return services.pseudonym(submission_id)


# --- Reviewers -----------------------------------------------------------------------------


@bp.get("/reviewer")
@roles_required(Role.REVIEWER)
def queue() -> Any:
    try:
        args = QueueQuerySchema().load(request.args)
    except ValidationError as exc:
        raise InvalidError(
            "Use page=1 or more and sort=due or sort=assigned.", exc.normalized_messages()
        ) from exc
    return render_template(
        "reviews/queue.html",
        queue=services.my_queue(current_user, args["sort"], args["page"]),
        sort=args["sort"],
    )


@bp.route("/reviewer/conflicts", methods=["GET", "POST"])
@roles_required(Role.REVIEWER)
def declare_conflict() -> Any:
    if request.method == "GET":
        return render_template(
            "reviews/conflicts.html",
            organizations=services.organizations(),
            conflicts=services.conflicts_of(current_user),
        )
    data, _errors = parse_form(ConflictSchema())
    if data is None or not data["organization_id"]:
        flash("Choose an organization.", "error")
        return redirect(url_for("reviews.queue"))
    return _admin_action(
        lambda: services.add_conflict(
            current_user, current_user.id, data["organization_id"], None, data["note"]
        ),
        "Conflict declared: you will not be given work from that organization.",
        fallback="reviews.declare_conflict",
    )


def _entries_from_form(version: Any) -> dict[str, Any]:
    return {
        criterion.key: {
            "level": request.form.get(f"level-{criterion.key}") or None,
            "feedback": request.form.get(f"feedback-{criterion.key}", ""),
        }
        for criterion in version.criteria
    }


@bp.route("/review/<int:assignment_id>", methods=["GET", "POST"])
@roles_required(Role.REVIEWER)
def score(assignment_id: int) -> Any:
    assignment = services.get_assignment(current_user, assignment_id)
    version = db.session.get(RubricVersion, assignment.rubric_version_id)
    errors: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        entries = _entries_from_form(version)
        try:
            if request.form.get("action") == "submit":
                services.submit_scores(current_user, assignment, entries)
                message = "Your scores are submitted and locked. Thank you."
            else:
                services.save_scores(current_user, assignment, entries)
                message = "Draft saved."
        except ServiceError as exc:
            db.session.rollback()
            assignment = services.get_assignment(current_user, assignment_id)
            errors, status = exc.errors or {"_schema": [exc.message]}, exc.status
            assignment.levels = {
                k: {"level": v["level"], "feedback": v["feedback"]} for k, v in entries.items()
            }
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("reviews.score", assignment_id=assignment_id))
    return render_template(
        "reviews/score.html",
        assignment=assignment,
        version=version,
        errors=errors,
        submission=assignment.submission,
        others=services.visible_other_scores(assignment),
    ), status


@bp.get("/review/<int:assignment_id>/items/<int:item_id>/file")
@roles_required(Role.REVIEWER)
def evidence_file(assignment_id: int, item_id: int) -> Any:
    """Blind download: named by part and number, never by the teacher's file name."""
    assignment = services.get_assignment(current_user, assignment_id)
    item = next((i for i in assignment.submission.items if i.id == item_id and i.file), None)
    if item is None:
        raise NotFoundError("No such file.")
    return stream_file(item.file, f"{item.part_key}-{item.id}{extension_for(item.file.media_type)}")


# --- Teachers ------------------------------------------------------------------------------------


@bp.post("/submissions/<int:submission_id>/appeal")
@roles_required(Role.TEACHER)
def appeal(submission_id: int) -> Any:
    submission = evidence.get_own_submission(current_user, submission_id)
    data, _errors = parse_form(AppealSchema())
    if data is None:
        flash("Explain the appeal in at least 20 characters.", "error")
    else:
        try:
            services.appeal(current_user, submission, data["reason"])
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("Your appeal is sent. A fresh reviewer will look at your evidence.", "success")
    return redirect(url_for("evidence.submission", submission_id=submission_id))


@bp.route("/account/notifications", methods=["GET", "POST"])
@roles_required()
def notification_preference() -> Any:
    if request.method == "POST":
        data, errors = parse_form(PreferenceSchema())
        if data is None:
            return render_template("reviews/notifications.html", mode=None, errors=errors), 422
        notifications.set_mode(current_user, data["mode"])
        db.session.commit()
        flash("Your notification preference is saved.", "success")
        return redirect(url_for("reviews.notification_preference"))
    return render_template(
        "reviews/notifications.html", mode=notifications.mode_for(current_user), errors={}
    )


# --- Admins ---------------------------------------------------------------------------------------


def _reviewers() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == str(Role.REVIEWER))
            .order_by(User.name)
        )
    )


@bp.get("/admin/reviews")
@roles_required(*ADMIN_ROLES)
def dashboard() -> Any:
    return render_template(
        "reviews/dashboard.html", data=services.dashboard(), reviewers=_reviewers()
    )


def _admin_action(action: Any, done: str, fallback: str = "reviews.dashboard") -> Any:
    try:
        action()
    except ServiceError as exc:
        db.session.rollback()
        flash(
            exc.message
            + (" " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()) if exc.errors else ""),
            "error",
        )
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(
        request.referrer
        if request.referrer and request.referrer.startswith(request.host_url)
        else url_for(fallback)
    )


@bp.post("/admin/reviews/submissions/<int:submission_id>/assign")
@roles_required(*ADMIN_ROLES)
def assign(submission_id: int) -> Any:
    data, _errors = parse_form(ManualAssignSchema())
    if data is None:
        flash("Choose a reviewer.", "error")
        return redirect(url_for("reviews.dashboard"))
    return _admin_action(
        lambda: services.assign_by_hand(
            current_user, submission_id, data["reviewer_id"], data["role"]
        ),
        "Reviewer assigned.",
    )


@bp.post("/admin/reviews/assignments/<int:assignment_id>/reassign")
@roles_required(*ADMIN_ROLES)
def reassign(assignment_id: int) -> Any:
    assignment = db.session.get(ReviewAssignment, assignment_id)
    if assignment is None:
        raise NotFoundError("No such review.")
    return _admin_action(
        lambda: services.reassign(current_user.id, assignment), "The review was moved."
    )


@bp.post("/admin/reviews/appeals/<int:appeal_id>/assign")
@roles_required(*ADMIN_ROLES)
def assign_appeal(appeal_id: int) -> Any:
    return _admin_action(
        lambda: services.assign_appeal(current_user, appeal_id), "A fresh reviewer has the appeal."
    )


@bp.post("/admin/reviews/extra-attempts")
@roles_required(*ADMIN_ROLES)
def extra_attempt() -> Any:
    data, _errors = parse_form(ExtraAttemptSchema())
    if data is None:
        flash("Give the teacher, the micro-credential and a reason.", "error")
        return redirect(url_for("reviews.dashboard"))
    return _admin_action(
        lambda: services.grant_extra_attempt(
            current_user,
            data["teacher_id"],
            data["code"],
            data["reason"],
            teacher_email=data["teacher_email"],
        ),
        "Extra attempt granted.",
    )


@bp.post("/admin/reviewers/<int:reviewer_id>/profile")
@roles_required(*ADMIN_ROLES)
def profile(reviewer_id: int) -> Any:
    data, _errors = parse_form(ProfileSchema())
    if data is None:
        flash("Capacity must be a whole number from 0 to 100.", "error")
        return redirect(url_for("reviews.dashboard"))
    data["available"] = request.form.get("available") == "true"
    data["is_lead"] = request.form.get("is_lead") == "true"
    return _admin_action(
        lambda: services.set_profile(current_user, reviewer_id, data), "Reviewer profile saved."
    )
