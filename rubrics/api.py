"""JSON API for rubrics: read freely (rubrics are public), write as a program admin."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user
from marshmallow import fields

from accounts.policy import ADMIN_ROLES, roles_required
from core.api_support import api_blueprint
from core.extensions import db
from rubrics import services
from rubrics.schemas import (
    CODE,
    DiffQuerySchema,
    DiffRowSchema,
    RubricDocumentSchema,
    RubricSummarySchema,
    RubricVersionSchema,
    StrictSchema,
)

blp = api_blueprint(
    "rubrics_api",
    __name__,
    url_prefix="/rubrics",
    description="Rubrics and their versions. Published versions never change.",
)


class RubricCreateSchema(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    document = fields.Nested(RubricDocumentSchema, required=True)


@blp.route("")
class Rubrics(MethodView):
    @blp.response(200, RubricSummarySchema(many=True))
    def get(self) -> Any:
        """All rubrics with their versions"""
        return services.list_rubrics()

    @roles_required(*ADMIN_ROLES)
    @blp.arguments(RubricCreateSchema)
    @blp.response(201, RubricVersionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a rubric with a first draft version"""
        version = services.create_rubric(data["code"], data["document"], actor_id=current_user.id)
        db.session.commit()
        return version


@blp.route("/<code>/versions")
class Versions(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(201, RubricVersionSchema)
    def post(self, code: str) -> Any:
        """Start a new draft version from the latest one"""
        version = services.new_draft(services.get_rubric(code), actor_id=current_user.id)
        db.session.commit()
        return version


@blp.route("/<code>/versions/<int:number>")
class VersionByNumber(MethodView):
    @blp.response(200, RubricVersionSchema)
    def get(self, code: str, number: int) -> Any:
        """One version with its criteria and levels"""
        return services.get_version(code, number)

    @roles_required(*ADMIN_ROLES)
    @blp.arguments(RubricDocumentSchema)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(409, description="The version is published and cannot change")
    def put(self, document: dict[str, Any], code: str, number: int) -> Any:
        """Replace a draft version's content"""
        version = services.update_draft(
            services.get_version(code, number), document, actor_id=current_user.id
        )
        db.session.commit()
        return version


@blp.route("/<code>/versions/<int:number>/publish")
class Publish(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(422, description="The version is not valid; the reasons are listed")
    def post(self, code: str, number: int) -> Any:
        """Validate and freeze a draft version forever"""
        version = services.publish(services.get_version(code, number), actor_id=current_user.id)
        db.session.commit()
        return version


@blp.route("/<code>/diff")
class Diff(MethodView):
    @blp.arguments(DiffQuerySchema, location="query")
    @blp.response(200, DiffRowSchema(many=True))
    def get(self, query: dict[str, int], code: str) -> Any:
        """What changed between two versions"""
        return services.diff_versions(
            services.get_version(code, query["from_version"]),
            services.get_version(code, query["to_version"]),
        )
