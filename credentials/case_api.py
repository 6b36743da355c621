"""CASE 1.1 over HTTP: framework packages in and out through the API, and the
resolvable CASE URIs (``/ims/case/v1p1/...``) that exported packages point at."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, jsonify, request, url_for
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields

from accounts.policy import ADMIN_ROLES, roles_required
from core.api_support import api_blueprint, register_api
from core.extensions import db
from credentials import case
from credentials.services import get_framework

blp = api_blueprint(
    "case_api",
    __name__,
    url_prefix="/case",
    description="Competency frameworks with their rubrics as CASE 1.1 (1EdTech) packages.",
)
uris_bp = Blueprint("case_uris", __name__, url_prefix=case.CASE_PATH)

PACKAGE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object", "title": "CFPackage"}}},
}


class FrameworkSummarySchema(Schema):
    code = fields.String(metadata={"description": "Our short code for the framework"})
    identifier = fields.String(metadata={"description": "The CFDocument identifier"})
    uri = fields.String(metadata={"description": "The CFDocument URI"})
    title = fields.String()
    version = fields.String(allow_none=True)
    items = fields.Integer(metadata={"description": "How many CFItems it has"})
    last_change = fields.DateTime()
    package_url = fields.Function(
        lambda summary: url_for("case_api.FrameworkPackage", code=summary["code"]),
        metadata={"description": "Where to download its CFPackage"},
    )


class PackageUploadSchema(Schema):
    file = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary", "description": "A CFPackage JSON file"},
    )


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:  # also covers text that is not UTF-8/16/32
        problem = {"path": "$", "message": f"Not valid JSON: {error}"}
        raise case.InvalidCasePackage.from_problems([problem]) from None


def _import(data: Any) -> dict[str, Any]:
    framework = case.import_package(data, actor_id=current_user.id)
    db.session.commit()
    return case.framework_summary(framework)


@blp.route("/frameworks")
class Frameworks(MethodView):
    @blp.response(200, FrameworkSummarySchema(many=True))
    def get(self) -> Any:
        """All frameworks"""
        return case.framework_summaries()


@blp.route("/frameworks/<code>/package")
class FrameworkPackage(MethodView):
    @blp.response(200, description="The framework as a CASE 1.1 CFPackage")
    def get(self, code: str) -> Any:
        """Export a framework with its items, associations and rubrics"""
        return case.export_package(get_framework(code))


@blp.route("/packages")
class Packages(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.doc(requestBody=PACKAGE_BODY)
    @blp.response(200, FrameworkSummarySchema)
    @blp.alt_response(400, description="Not JSON, or the package has problems; all are listed")
    @blp.alt_response(409, description="A rubric contradicts a published rubric")
    def post(self) -> Any:
        """Import a CFPackage (a framework with the same identifier is updated)"""
        return _import(_parse(request.get_data(cache=False)))


@blp.route("/packages/upload")
class PackageUpload(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.arguments(PackageUploadSchema, location="files")
    @blp.response(200, FrameworkSummarySchema)
    @blp.alt_response(400, description="Not JSON, or the package has problems; all are listed")
    @blp.alt_response(409, description="A rubric contradicts a published rubric")
    def post(self, files: dict[str, Any]) -> Any:
        """Import a CFPackage sent as the file field ``file``"""
        return _import(_parse(files["file"].read()))


@uris_bp.get("/CFDocuments/<identifier>")
def cf_document(identifier: str) -> Any:
    framework = case.framework_by_identifier(identifier)
    package_uri = case.case_uri("CFPackages", framework.identifier)
    return jsonify(
        {
            **case.cf_document(framework),
            "CFPackageURI": {**case.document_link(framework), "uri": package_uri},
        }
    )


@uris_bp.get("/CFItems/<identifier>")
def cf_item(identifier: str) -> Any:
    item = case.item_by_identifier(identifier)
    return jsonify(case.cf_item(item, case.document_link(item.framework)))


@uris_bp.get("/CFPackages/<identifier>")
def cf_package(identifier: str) -> Any:
    return jsonify(case.export_package(case.framework_by_identifier(identifier)))


@uris_bp.get("/CFRubrics/<identifier>")
def cf_rubric(identifier: str) -> Any:
    return jsonify(case.cf_rubric(case.published_rubric_version(identifier), case.item_finder()))


def register(app: Flask) -> None:
    register_api(app, blp)
    app.register_blueprint(uris_bp)
