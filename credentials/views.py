"""Catalog pages (public), framework pages (public), authoring pages (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from marshmallow import ValidationError

from accounts.policy import ADMIN_ROLES, roles_required
from core.errors import ServiceError
from core.extensions import db
from credentials import services
from credentials.authoring import dump_document, parse_document
from credentials.models import GRADE_BANDS, CredentialStatus, Theme
from credentials.schemas import CatalogQuerySchema
from credentials.seed import catalog_dir
from rubrics.schemas import DiffQuerySchema

bp = Blueprint("credentials", __name__)


@bp.app_context_processor
def _catalog_helpers() -> dict[str, Any]:
    return {"Theme": Theme, "GRADE_BANDS": GRADE_BANDS}


# --- Teachers and everyone -----------------------------------------------------------


@bp.get("/catalog")
def catalog() -> Any:
    try:
        filters = CatalogQuerySchema().load({k: v for k, v in request.args.items() if v.strip()})
        errors: dict[str, Any] = {}
    except ValidationError as exc:
        filters, errors = {}, exc.messages
    results = services.search_catalog(**filters)
    status = 400 if errors else 200
    return render_template(
        "credentials/catalog.html",
        results=results,
        filters=filters,
        args=request.args,
        errors=errors,
        stacks=services.list_stacks(),
    ), status


def _render_detail(credential: Any, *, preview: bool = False) -> str:
    return render_template(
        "credentials/detail.html",
        credential=credential,
        stacks=services.stacks_including(credential.code),
        versions=[v for v in services.versions_of(credential.code) if v.status != "draft"],
        preview=preview,
    )


@bp.get("/catalog/<code>")
def detail(code: str) -> Any:
    version = request.args.get("version", type=int)
    if version:
        credential = services.get_version(code, version)
    else:
        credential = services.current_credential(code)
    return _render_detail(credential)


@bp.get("/frameworks")
def frameworks() -> Any:
    return render_template("credentials/frameworks.html", frameworks=services.list_frameworks())


@bp.get("/frameworks/<code>")
def framework(code: str) -> Any:
    found = services.get_framework(code)
    return render_template(
        "credentials/framework.html", framework=found, tree=services.item_children(found)
    )


@bp.get("/frameworks/<code>/items/<path:item_code>")
def framework_item(code: str, item_code: str) -> Any:
    found = services.get_framework(code)
    item = services.get_item(found, item_code)
    related = [a for a in found.associations if item.id in (a.origin_id, a.destination_id)]
    return render_template(
        "credentials/item.html",
        framework=found,
        item=item,
        children=services.item_children(found).get(item.id, []),
        related=related,
        credentials=services.search_catalog(competency=item.code),
    )


# --- Program admins ---------------------------------------------------------------


@bp.get("/admin/catalog")
@roles_required(*ADMIN_ROLES)
def admin_catalog() -> Any:
    return render_template("credentials/admin_catalog.html", rows=services.authoring_overview())


def _editor(document_text: str, errors: dict[str, Any], **context: Any) -> str:
    return render_template(
        "credentials/admin_edit.html", document_text=document_text, errors=errors, **context
    )


@bp.route("/admin/catalog/new", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def admin_new() -> Any:
    if request.method == "GET":
        starter = (catalog_dir() / "microcredentials" / "UDL-05.yaml").read_text(encoding="utf-8")
        return _editor(starter.replace("code: UDL-05", "code: UDL-07", 1), {}, credential=None)
    text = request.form.get("document", "")
    document, errors = parse_document(text)
    if document is not None:
        try:
            credential = services.create_draft(document, actor_id=current_user.id)
        except ServiceError as exc:
            db.session.rollback()
            errors = exc.errors or {"document": [exc.message]}
        else:
            db.session.commit()
            flash(f"Draft {credential.code} version 1 saved.", "success")
            return redirect(url_for("credentials.admin_preview", code=credential.code, version=1))
    return _editor(text, errors, credential=None), 422


@bp.route("/admin/catalog/<code>/versions/<int:version>/edit", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def admin_edit(code: str, version: int) -> Any:
    credential = services.get_version(code, version, include_drafts=True)
    if credential.status != CredentialStatus.DRAFT:
        flash("Published versions never change. Start a new version to edit.", "error")
        return redirect(url_for("credentials.admin_catalog"))
    if request.method == "GET":
        return _editor(
            dump_document(services.document_from_credential(credential)), {}, credential=credential
        )
    text = request.form.get("document", "")
    document, errors = parse_document(text)
    if document is not None:
        try:
            services.update_draft(credential, document, actor_id=current_user.id)
        except ServiceError as exc:
            db.session.rollback()
            errors = exc.errors or {"document": [exc.message]}
        else:
            db.session.commit()
            flash(f"Draft {code} version {version} saved.", "success")
            return redirect(url_for("credentials.admin_preview", code=code, version=version))
    return _editor(text, errors, credential=credential), 422


@bp.get("/admin/catalog/<code>/versions/<int:version>/preview")
@roles_required(*ADMIN_ROLES)
def admin_preview(code: str, version: int) -> Any:
    return _render_detail(services.get_version(code, version, include_drafts=True), preview=True)


@bp.post("/admin/catalog/<code>/versions/<int:version>/publish")
@roles_required(*ADMIN_ROLES)
def admin_publish(code: str, version: int) -> Any:
    credential = services.get_version(code, version, include_drafts=True)
    try:
        services.publish(credential, actor_id=current_user.id)
    except ServiceError as exc:
        db.session.rollback()
        problems = [
            f"{field}: {message}"
            for field, messages in exc.errors.items()
            for message in (messages if isinstance(messages, list) else [messages])
        ]
        flash(f"{code} version {version} was not published. " + " ".join(problems), "error")
        return redirect(url_for("credentials.admin_preview", code=code, version=version)), 303
    db.session.commit()
    flash(f"{code} version {version} is published and now in the catalog.", "success")
    return redirect(url_for("credentials.detail", code=code))


@bp.post("/admin/catalog/<code>/new-version")
@roles_required(*ADMIN_ROLES)
def admin_new_version(code: str) -> Any:
    draft = services.new_version(code, actor_id=current_user.id)
    db.session.commit()
    flash(f"Draft {code} version {draft.version} is ready to edit.", "success")
    return redirect(url_for("credentials.admin_edit", code=code, version=draft.version))


@bp.post("/admin/catalog/<code>/retire")
@roles_required(*ADMIN_ROLES)
def admin_retire(code: str) -> Any:
    services.retire(code, actor_id=current_user.id)
    db.session.commit()
    flash(f"{code} is retired: no new submissions; earned badges stay valid.", "success")
    return redirect(url_for("credentials.admin_catalog"))


@bp.get("/admin/catalog/<code>/diff")
@roles_required(*ADMIN_ROLES)
def admin_diff(code: str) -> Any:
    try:
        query = DiffQuerySchema().load(request.args)
    except ValidationError:
        abort(400, description="Choose two versions to compare (from and to).")
    rows = services.diff_versions(code, query["from_version"], query["to_version"])
    return render_template(
        "credentials/admin_diff.html",
        code=code,
        rows=rows,
        before=query["from_version"],
        after=query["to_version"],
    )
