"""JSON API for the review workflow (the same services as the pages)."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from flask_login import current_user

from accounts.models import Role
from accounts.policy import ADMIN_ROLES, roles_required
from core.api_support import api_blueprint
from core.errors import NotFoundError
from core.extensions import db
from evidence import services as evidence
from reviews import services
from reviews.models import ReviewAssignment
from reviews.schemas import (
    AppealSchema,
    AssignmentDetailSchema,
    AssignmentSchema,
    ConflictSchema,
    DashboardSchema,
    DecisionSchema,
    ExtraAttemptSchema,
    ManualAssignSchema,
    ProfileSchema,
    QueueQuerySchema,
    ScoresSchema,
)

blp = api_blueprint(
    "reviews_api",
    __name__,
    url_prefix="",
    description="Blind review: your queue and scores (reviewers); decisions, feedback and "
    "appeals (teachers); assignment and operations (admins).",
)
reviewer_only = roles_required(Role.REVIEWER)
admin_only = roles_required(*ADMIN_ROLES)


@blp.route("/reviews/assignments")
class Assignments(MethodView):
    @reviewer_only
    @blp.arguments(QueueQuerySchema, location="query")
    @blp.response(200, AssignmentSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Your open reviews by due date (page 1), then your submitted ones, newest first,
        20 a page; the Link header names the next page while there is one"""
        queue = services.my_queue(current_user, args["sort"], args["page"])
        if queue.has_more:
            next_url = url_for(
                "reviews_api.Assignments", page=queue.page + 1, sort=args["sort"], _external=True
            )
            return queue.assignments, 200, {"Link": f'<{next_url}>; rel="next"'}
        return queue.assignments


@blp.route("/reviews/assignments/<int:assignment_id>")
class AssignmentById(MethodView):
    @reviewer_only
    @blp.response(200, AssignmentDetailSchema)
    def get(self, assignment_id: int) -> Any:
        """One review with its (anonymous) evidence"""
        return services.get_assignment(current_user, assignment_id)


@blp.route("/reviews/assignments/<int:assignment_id>/scores")
class Scores(MethodView):
    @reviewer_only
    @blp.arguments(ScoresSchema)
    @blp.response(200, AssignmentSchema)
    def put(self, data: dict[str, Any], assignment_id: int) -> Any:
        """Save a draft of your scores"""
        assignment = services.save_scores(
            current_user, services.get_assignment(current_user, assignment_id), data["levels"]
        )
        db.session.commit()
        return assignment


@blp.route("/reviews/assignments/<int:assignment_id>/submit")
class SubmitScores(MethodView):
    @reviewer_only
    @blp.arguments(ScoresSchema)
    @blp.response(200, AssignmentSchema)
    def post(self, data: dict[str, Any], assignment_id: int) -> Any:
        """Submit and lock your scores (feedback is required below the passing level)"""
        assignment = services.submit_scores(
            current_user, services.get_assignment(current_user, assignment_id), data["levels"]
        )
        db.session.commit()
        return assignment


@blp.route("/submissions/<int:submission_id>/decision")
class DecisionForSubmission(MethodView):
    @roles_required(Role.TEACHER, *ADMIN_ROLES)
    @blp.response(200, DecisionSchema)
    def get(self, submission_id: int) -> Any:
        """The decision with consolidated feedback per criterion"""
        feedback = services.feedback_for(evidence.get_submission(current_user, submission_id))
        if feedback is None:
            raise NotFoundError("There is no decision yet.")
        return feedback


@blp.route("/submissions/<int:submission_id>/appeal")
class AppealSubmission(MethodView):
    @roles_required(Role.TEACHER)
    @blp.arguments(AppealSchema)
    @blp.response(201, DecisionSchema)
    def post(self, data: dict[str, Any], submission_id: int) -> Any:
        """Appeal a decision once; a fresh reviewer will look again"""
        submission = evidence.get_own_submission(current_user, submission_id)
        services.appeal(current_user, submission, data["reason"])
        db.session.commit()
        return services.feedback_for(submission)


@blp.route("/reviews/dashboard")
class Dashboard(MethodView):
    @admin_only
    @blp.response(200, DashboardSchema)
    def get(self) -> Any:
        """Queue depth, overdue and awaiting reviews, turnaround, reviewer load"""
        return services.dashboard()


@blp.route("/reviews/submissions/<int:submission_id>/assignments")
class ManualAssign(MethodView):
    @admin_only
    @blp.arguments(ManualAssignSchema)
    @blp.response(201, AssignmentSchema)
    def post(self, data: dict[str, Any], submission_id: int) -> Any:
        """Assign a reviewer by hand"""
        assignment = services.assign_by_hand(
            current_user, submission_id, data["reviewer_id"], data["role"]
        )
        db.session.commit()
        return assignment


@blp.route("/reviews/assignments/<int:assignment_id>/reassign")
class Reassign(MethodView):
    @admin_only
    @blp.response(200, AssignmentSchema(many=True))
    def post(self, assignment_id: int) -> Any:
        """Move an open review to another reviewer"""
        assignment = db.session.get(ReviewAssignment, assignment_id)
        if assignment is None:
            raise NotFoundError("No such review.")
        made = services.reassign(current_user.id, assignment)
        db.session.commit()
        return made


@blp.route("/reviews/appeals/<int:appeal_id>/assign")
class AssignAppeal(MethodView):
    @admin_only
    @blp.response(201, AssignmentSchema)
    def post(self, appeal_id: int) -> Any:
        """Give an appeal to a fresh reviewer"""
        assignment = services.assign_appeal(current_user, appeal_id)
        db.session.commit()
        return assignment


@blp.route("/reviews/extra-attempts")
class ExtraAttempts(MethodView):
    @admin_only
    @blp.arguments(ExtraAttemptSchema)
    @blp.response(201)
    def post(self, data: dict[str, Any]) -> Any:
        """Grant a teacher one more attempt, with a reason (audited)"""
        grant = services.grant_extra_attempt(
            current_user,
            data["teacher_id"],
            data["code"],
            data["reason"],
            teacher_email=data["teacher_email"],
        )
        db.session.commit()
        return {"id": grant.id, "teacher_id": grant.teacher_id, "code": grant.credential_code}


@blp.route("/reviews/reviewers/<int:reviewer_id>/profile")
class Profile(MethodView):
    @admin_only
    @blp.arguments(ProfileSchema)
    @blp.response(200)
    def put(self, data: dict[str, Any], reviewer_id: int) -> Any:
        """Capacity, availability and lead status of a reviewer"""
        profile = services.set_profile(current_user, reviewer_id, data)
        db.session.commit()
        return {
            "user_id": profile.user_id,
            "capacity": profile.capacity,
            "available": profile.available,
            "is_lead": profile.is_lead,
        }


@blp.route("/reviews/me/conflicts")
class MyConflicts(MethodView):
    @reviewer_only
    @blp.arguments(ConflictSchema)
    @blp.response(201)
    def post(self, data: dict[str, Any]) -> Any:
        """Declare a conflict of interest: an organization or a person you must not review"""
        conflict = services.add_conflict(
            current_user, current_user.id, data["organization_id"], data["person_id"], data["note"]
        )
        db.session.commit()
        return {
            "id": conflict.id,
            "organization_id": conflict.organization_id,
            "person_id": conflict.person_id,
            "note": conflict.note,
        }
