"""JSON API for submissions and evidence, with resumable uploads (tus-style)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask.views import MethodView
from flask_login import current_user
from marshmallow import fields

from accounts.models import Role
from accounts.policy import login_required, roles_required
from accounts.schemas import FormSchema
from core.api_support import api_blueprint, file_download
from core.bodies import allows_large_body
from core.errors import InvalidError
from core.extensions import db
from core.storage import UploadTooLarge, stage_stream
from evidence import services
from evidence.downloads import export_response, file_response
from evidence.schemas import (
    AccessibilitySchema,
    EvidenceItemSchema,
    FileMetaSchema,
    LinkItemSchema,
    StartSubmissionSchema,
    SubmissionSchema,
    SubmitSchema,
    TextItemSchema,
    UploadSchema,
    UploadStartSchema,
)

blp = api_blueprint(
    "evidence_api",
    __name__,
    url_prefix="",
    description="Your submissions and their evidence. Large files upload resumably: start an "
    "upload, then PATCH bytes with an Upload-Offset header; HEAD tells where to resume.",
)

teacher_only = roles_required(Role.TEACHER)


class OptionalLockSchema(FormSchema):
    lock_version = fields.Integer(load_default=None)


@blp.route("/submissions")
class Submissions(MethodView):
    @teacher_only
    @blp.response(200, SubmissionSchema(many=True))
    def get(self) -> Any:
        """Your submissions, newest first"""
        return services.submissions_of(current_user)

    @teacher_only
    @blp.arguments(StartSubmissionSchema)
    @blp.response(201, SubmissionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Start an attempt at the current version of a micro-credential"""
        submission = services.start_submission(current_user, data["code"])
        db.session.commit()
        return submission


@blp.route("/submissions/<int:submission_id>")
class SubmissionById(MethodView):
    @login_required
    @blp.response(200, SubmissionSchema)
    def get(self, submission_id: int) -> Any:
        """One submission (its teacher and admins)"""
        return services.get_submission(current_user, submission_id)

    @teacher_only
    @blp.response(204)
    def delete(self, submission_id: int) -> None:
        """Delete a draft"""
        services.delete_draft(
            current_user, services.get_own_submission(current_user, submission_id)
        )
        db.session.commit()


def _own(submission_id: int) -> Any:
    return services.get_own_submission(current_user, submission_id)


@blp.route("/submissions/<int:submission_id>/items/text")
class TextItems(MethodView):
    @teacher_only
    @blp.arguments(TextItemSchema)
    @blp.response(201, EvidenceItemSchema)
    def post(self, data: dict[str, Any], submission_id: int) -> Any:
        """Add a written response (HTML is sanitized; words are counted)"""
        item = services.add_text(current_user, _own(submission_id), data)
        db.session.commit()
        return item


@blp.route("/submissions/<int:submission_id>/items/link")
class LinkItems(MethodView):
    @teacher_only
    @blp.arguments(LinkItemSchema)
    @blp.response(201, EvidenceItemSchema)
    def post(self, data: dict[str, Any], submission_id: int) -> Any:
        """Add a link (http or https)"""
        item = services.add_link(current_user, _own(submission_id), data)
        db.session.commit()
        return item


@blp.route("/submissions/<int:submission_id>/items/<int:item_id>")
class ItemById(MethodView):
    @teacher_only
    @blp.arguments(AccessibilitySchema)
    @blp.response(200, EvidenceItemSchema)
    def patch(self, data: dict[str, Any], submission_id: int, item_id: int) -> Any:
        """Set alt text (images) or a transcript (audio, video)"""
        item = services.update_accessibility(current_user, _own(submission_id), item_id, data)
        db.session.commit()
        return item

    @teacher_only
    @blp.arguments(OptionalLockSchema, location="query")
    @blp.response(204)
    def delete(self, query: dict[str, Any], submission_id: int, item_id: int) -> None:
        """Remove an item from a draft"""
        services.remove_item(current_user, _own(submission_id), item_id, query["lock_version"])
        db.session.commit()


@blp.route("/submissions/<int:submission_id>/parts/<part_key>/files", methods=["POST"])
@teacher_only
@allows_large_body
@blp.response(201, EvidenceItemSchema)
@blp.doc(
    description="multipart/form-data: `file`, optional `alt_text`, `transcript`, `lock_version`"
)
def upload_file(submission_id: int, part_key: str) -> Any:
    """Upload a file in one request (use uploads for large or unreliable connections)"""
    submission = _own(submission_id)
    meta = FileMetaSchema().load(request.form.to_dict())
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidError("Send the file in the multipart field “file”.", {"file": ["Missing."]})
    try:
        staged = stage_stream(upload.stream, limit=current_app.config["FILE_MAX_BYTES"])
    except UploadTooLarge as exc:
        raise services.too_large(exc.limit) from exc
    item = services.add_file(
        current_user,
        submission,
        part_key,
        staged,
        upload.filename,
        alt_text=meta["alt_text"],
        transcript=meta["transcript"],
        lock_version=meta["lock_version"],
    )
    db.session.commit()
    return item


@blp.route("/submissions/<int:submission_id>/parts/<part_key>/uploads")
class Uploads(MethodView):
    @teacher_only
    @blp.arguments(UploadStartSchema)
    @blp.response(201, UploadSchema)
    def post(self, data: dict[str, Any], submission_id: int, part_key: str) -> Any:
        """Start a resumable upload of `length` bytes"""
        upload = services.start_upload(current_user, _own(submission_id), part_key, data)
        db.session.commit()
        return upload, 201, {"Location": f"/api/v1/uploads/{upload.id}", "Upload-Offset": "0"}


def _offset_headers(upload: Any) -> dict[str, str]:
    return {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
    }


@blp.route("/uploads/<upload_id>", methods=["HEAD", "PATCH", "DELETE"])
@teacher_only
@allows_large_body
@blp.doc(
    description="HEAD: where to resume. PATCH: `Upload-Offset` header and the bytes "
    "(application/offset+octet-stream); 204 until the last byte, then 201 with the item. "
    "DELETE: abandon the upload."
)
def upload_bytes(upload_id: str) -> Any:
    """Resume, send bytes to, or abandon an upload"""
    upload = services.get_upload(current_user, upload_id)
    if request.method == "HEAD":
        return Response(status=200, headers=_offset_headers(upload))
    if request.method == "DELETE":
        services.cancel_upload(upload)
        db.session.commit()
        return Response(status=204)
    raw_offset = request.headers.get("Upload-Offset", "")
    if not raw_offset.isdigit():
        raise InvalidError(
            "Send the Upload-Offset header (a number of bytes).",
            {"Upload-Offset": ["Missing or not a number."]},
        )
    try:
        item = services.append_upload(current_user, upload, int(raw_offset), request.stream)
    except Exception:
        db.session.commit()  # keep the offset reached (or the removal after an oversize)
        raise
    db.session.commit()
    if item is None:
        return Response(status=204, headers=_offset_headers(upload))
    response = jsonify(EvidenceItemSchema().dump(item))
    response.status_code = 201
    response.headers.update(_offset_headers(upload))
    return response


@blp.route("/submissions/<int:submission_id>/submit")
class Submit(MethodView):
    @teacher_only
    @blp.arguments(SubmitSchema)
    @blp.response(200, SubmissionSchema)
    def post(self, data: dict[str, Any], submission_id: int) -> Any:
        """Submit for the completeness pre-check and review"""
        submission = services.submit(current_user, _own(submission_id), data)
        db.session.commit()
        return submission


@blp.route("/submissions/<int:submission_id>/withdraw")
class Withdraw(MethodView):
    @teacher_only
    @blp.response(200, SubmissionSchema)
    def post(self, submission_id: int) -> Any:
        """Withdraw before review starts"""
        submission = services.withdraw(current_user, _own(submission_id))
        db.session.commit()
        return submission


@blp.route("/evidence-items/<int:item_id>/file", methods=["GET"])
@login_required
@blp.doc(description="The file as an attachment, for its teacher, assigned reviewers and admins.")
@file_download(blp, "*/*", description="The file, typed from its content")
def download(item_id: int) -> Any:
    """Download an evidence file"""
    return file_response(current_user, item_id)


@blp.route("/me/export", methods=["GET"])
@login_required
@blp.doc(description="A zip of everything held about you: a JSON summary and your files.")
@file_download(blp, "application/zip", description="The zip file")
def export() -> Any:
    """Export all your data"""
    return export_response(current_user)
