"""JSON API for the catalog: read published content freely, author as a program admin."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user

from accounts.policy import ADMIN_ROLES, roles_required
from core.api_support import api_blueprint
from core.extensions import db
from credentials import services
from credentials.schemas import (
    CatalogQuerySchema,
    MicroCredentialDocumentSchema,
    MicroCredentialSchema,
    MicroCredentialSummarySchema,
    StackSchema,
    VersionQuerySchema,
)
from rubrics.schemas import DiffQuerySchema, DiffRowSchema

blp = api_blueprint(
    "credentials_api",
    __name__,
    url_prefix="",
    description="The micro-credential catalog: search, read, author, version, publish, retire.",
)


@blp.route("/catalog")
class Catalog(MethodView):
    @blp.arguments(CatalogQuerySchema, location="query")
    @blp.response(200, MicroCredentialSummarySchema(many=True))
    def get(self, filters: dict[str, Any]) -> Any:
        """Search published micro-credentials (full text and filters)"""
        return services.search_catalog(**filters)


@blp.route("/stacks")
class Stacks(MethodView):
    @blp.response(200, StackSchema(many=True))
    def get(self) -> Any:
        """Stacked credentials and the micro-credentials that earn them"""
        return services.list_stacks()


@blp.route("/micro-credentials")
class MicroCredentials(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.arguments(MicroCredentialDocumentSchema)
    @blp.response(201, MicroCredentialSchema)
    def post(self, document: dict[str, Any]) -> Any:
        """Create a new micro-credential as a draft (version 1)"""
        credential = services.create_draft(document, actor_id=current_user.id)
        db.session.commit()
        return credential


@blp.route("/micro-credentials/<code>")
class MicroCredentialByCode(MethodView):
    @blp.arguments(VersionQuerySchema, location="query")
    @blp.response(200, MicroCredentialSchema)
    def get(self, query: dict[str, Any], code: str) -> Any:
        """The current published version, or ?version=N"""
        if query["version"]:
            return services.get_version(code, query["version"])
        return services.current_credential(code)


@blp.route("/micro-credentials/<code>/versions")
class Versions(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(200, MicroCredentialSummarySchema(many=True))
    def get(self, code: str) -> Any:
        """Every version, drafts included (admins)"""
        return services.versions_of(code)

    @roles_required(*ADMIN_ROLES)
    @blp.response(201, MicroCredentialSchema)
    def post(self, code: str) -> Any:
        """Start the next version as a draft copy of the latest"""
        draft = services.new_version(code, actor_id=current_user.id)
        db.session.commit()
        return draft


@blp.route("/micro-credentials/<code>/versions/<int:version>")
class VersionByNumber(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(200, MicroCredentialDocumentSchema)
    def get(self, code: str, version: int) -> Any:
        """The editable document of any version (admins)"""
        return services.document_from_credential(
            services.get_version(code, version, include_drafts=True)
        )

    @roles_required(*ADMIN_ROLES)
    @blp.arguments(MicroCredentialDocumentSchema)
    @blp.response(200, MicroCredentialSchema)
    @blp.alt_response(409, description="Only drafts can change")
    def put(self, document: dict[str, Any], code: str, version: int) -> Any:
        """Replace a draft's content"""
        credential = services.update_draft(
            services.get_version(code, version, include_drafts=True),
            document,
            actor_id=current_user.id,
        )
        db.session.commit()
        return credential


@blp.route("/micro-credentials/<code>/versions/<int:version>/publish")
class Publish(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(200, MicroCredentialSchema)
    @blp.alt_response(422, description="Not valid yet; the reasons are listed")
    def post(self, code: str, version: int) -> Any:
        """Publish a draft (and its rubric) into the catalog"""
        credential = services.publish(
            services.get_version(code, version, include_drafts=True), actor_id=current_user.id
        )
        db.session.commit()
        return credential


@blp.route("/micro-credentials/<code>/retire")
class Retire(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.response(200, MicroCredentialSummarySchema(many=True))
    def post(self, code: str) -> Any:
        """Retire: no new submissions; earned badges stay valid"""
        retired = services.retire(code, actor_id=current_user.id)
        db.session.commit()
        return retired


@blp.route("/micro-credentials/<code>/diff")
class Diff(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.arguments(DiffQuerySchema, location="query")
    @blp.response(200, DiffRowSchema(many=True))
    def get(self, query: dict[str, int], code: str) -> Any:
        """What changed between two versions (admins)"""
        return services.diff_versions(code, query["from_version"], query["to_version"])
