"""Bulk verification pages and API for licensure officers (state verifiers and admins)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from accounts.models import Role
from accounts.policy import ADMIN_ROLES, roles_required
from badges import bulk
from core.api_support import api_blueprint, file_download, get_api, register_api
from core.errors import ServiceError
from core.extensions import db, limiter
from core.jobs import PeriodicJob, register_periodic
from core.storage import attachment_response

VERIFIER_ROLES = (Role.STATE_VERIFIER, *ADMIN_ROLES)
UPLOAD_LIMIT = "10 per minute"

bp = Blueprint("badges_bulk", __name__)
api_blp = api_blueprint(
    "badges_bulk_api",
    __name__,
    url_prefix="",
    description="Bulk verification: check a CSV of badges in the background (state verifiers).",
)


class BulkStatusSchema(ma.Schema):
    id = ma.fields.String()
    status = ma.fields.String(
        metadata={
            "description": "queued, running, done or failed",
            "enum": ["queued", "running", "done", "failed"],
        }
    )
    filename = ma.fields.String()
    total = ma.fields.Integer(metadata={"description": "Rows in the file"})
    done = ma.fields.Integer(metadata={"description": "Rows checked so far"})
    percent = ma.fields.Integer()
    counts = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "Rows per verdict: valid, not valid, error"},
    )
    rejection_codes = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        metadata={"description": "Rows per code"},
    )
    created = ma.fields.AwareDateTime()
    finished = ma.fields.AwareDateTime(allow_none=True)
    expires = ma.fields.AwareDateTime(
        metadata={"description": "When the check and its result are deleted"}
    )
    error = ma.fields.String(allow_none=True)
    status_url = ma.fields.String()
    result_url = ma.fields.String(allow_none=True)


def _status_body(state: bulk.BulkState) -> dict[str, Any]:
    return {
        **state.as_dict(),
        "status_url": url_for("badges_bulk_api.BulkStatus", bulk_id=state.id),
        "result_url": url_for("badges_bulk_api.bulk_result", bulk_id=state.id)
        if state.status == bulk.DONE
        else None,
    }


def _result_response(bulk_id: str) -> Response:
    state = bulk.get_state(bulk_id, current_user)
    return attachment_response(
        bulk.result_key(state), "text/csv; charset=utf-8", f"bulk-verification-{state.id}.csv"
    )


def _start_from_request() -> bulk.BulkState:
    upload = request.files.get("file")
    try:
        state = bulk.start_bulk_verification(
            current_user,
            upload.stream if upload is not None else None,
            (upload.filename or "") if upload is not None else "",
        )
    except ServiceError:
        db.session.rollback()
        raise
    db.session.commit()  # the outbox row; the job starts once it is committed
    return state


# --- Pages ----------------------------------------------------------------------------


def _upload_form(errors: dict[str, Any], status: int) -> Any:
    return render_template(
        "badges/bulk.html",
        errors=errors,
        recent=bulk.recent_for(current_user) if current_user.is_authenticated else [],
        max_rows=bulk.MAX_ROWS,
        max_mib=bulk.MAX_BYTES // (1024 * 1024),
        retention_days=bulk.STATE_TTL // 86400,
    ), status


@bp.route("/verifier/bulk", methods=["GET", "POST"])
@roles_required(*VERIFIER_ROLES)
@limiter.limit(UPLOAD_LIMIT, methods=["POST"])
def upload() -> Any:
    if request.method == "POST":
        try:
            state = _start_from_request()
        except ServiceError as exc:
            return _upload_form(exc.errors or {"file": [exc.message]}, exc.status)
        return redirect(url_for("badges_bulk.status_page", bulk_id=state.id), 303)
    return _upload_form({}, 200)


@bp.errorhandler(RequestEntityTooLarge)
def _page_too_large(_error: RequestEntityTooLarge) -> Any:
    """A body past the service-wide request limit is refused before the view runs;
    say this page's limit, not the generic one."""
    return _upload_form({"file": [bulk.too_large_message()]}, 413)


@bp.get("/verifier/bulk/example.csv")
def example_csv() -> Response:
    response = Response(bulk.example_csv(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="bulk-verification-example.csv"'
    return response


@bp.get("/verifier/bulk/<bulk_id>")
@roles_required(*VERIFIER_ROLES)
def status_page(bulk_id: str) -> Any:
    state = bulk.get_state(bulk_id, current_user)
    return render_template(
        "badges/bulk_status.html",
        state=state,
        verdicts=bulk.VERDICTS,
        status_url=url_for("badges_bulk_api.BulkStatus", bulk_id=state.id),
    )


@bp.get("/verifier/bulk/<bulk_id>/result.csv")
@roles_required(*VERIFIER_ROLES)
def result_page(bulk_id: str) -> Response:
    return _result_response(bulk_id)


# --- API ------------------------------------------------------------------------------


@api_blp.route("/bulk-verifications", methods=["POST"])
@roles_required(*VERIFIER_ROLES)
@limiter.limit(UPLOAD_LIMIT)
@api_blp.response(202, BulkStatusSchema)
@api_blp.doc(
    description="Multipart field `file`: a CSV (at most 5 MiB and 5,000 rows) with a `badge` "
    "column (badge id or verification address of this service) and optional `name` and "
    "`license_number` columns. Poll `status_url`; when `status` is `done`, download `result_url`."
)
def start_bulk() -> Any:
    """Start a bulk verification"""
    state = _start_from_request()
    body = _status_body(state)
    return body, 202, {"Location": body["status_url"]}


@api_blp.route("/bulk-verifications/<bulk_id>")
class BulkStatus(MethodView):
    @roles_required(*VERIFIER_ROLES)
    @api_blp.response(200, BulkStatusSchema)
    def get(self, bulk_id: str) -> Any:
        """Progress and counts of your bulk verification"""
        return _status_body(bulk.get_state(bulk_id, current_user))


@api_blp.route("/bulk-verifications/<bulk_id>/result.csv")
@roles_required(*VERIFIER_ROLES)
@api_blp.doc(
    description="One row per row of your file: verdict (valid, not valid, error), reason, "
    "rejection codes and the credential's title, code, issue date and hours. 409 until done."
)
@file_download(api_blp, "text/csv", description="The result CSV")
def bulk_result(bulk_id: str) -> Response:
    """The result CSV of your bulk verification"""
    return _result_response(bulk_id)


@api_blp.errorhandler(RequestEntityTooLarge)
def _api_too_large(error: RequestEntityTooLarge) -> Any:
    error.data = {
        "message": bulk.too_large_message(),
        "errors": {"file": [bulk.too_large_message()]},
        "code": "too_large",
    }
    return get_api(current_app).handle_http_exception(error)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    register_api(app, api_blp)
    register_periodic(app, PeriodicJob("badges.bulk.delete_expired_files", interval=3600))
