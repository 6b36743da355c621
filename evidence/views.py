"""Teacher pages: portfolio, submission editing, uploads, submitting, export."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from accounts.models import Role
from accounts.policy import login_required, roles_required
from core.bodies import allows_large_body
from core.errors import ServiceError
from core.extensions import db
from core.forms import flatten_messages, parse_form
from core.i18n import N_, _
from core.storage import UploadTooLarge, human_size, stage_stream
from evidence import services
from evidence.downloads import export_response, file_response
from evidence.schemas import (
    AccessibilitySchema,
    FileMetaSchema,
    LinkItemSchema,
    LockSchema,
    StartSubmissionSchema,
    SubmitSchema,
    TextItemSchema,
)
from evidence.stacks import stack_progress

bp = Blueprint("evidence", __name__)


@bp.get("/portfolio")
@roles_required(Role.TEACHER)
def portfolio() -> Any:
    submissions = services.submissions_of(current_user)
    return render_template(
        "evidence/portfolio.html",
        submissions=submissions,
        stacks=stack_progress(services.earned_codes(current_user)),
    )


@bp.post("/submissions")
@roles_required(Role.TEACHER)
def start() -> Any:
    data, _errors = parse_form(StartSubmissionSchema())
    if data is None:
        flash(N_("Choose a micro-credential to start."), "error")
        return redirect(url_for("credentials.catalog"))
    try:
        submission = services.start_submission(current_user, data["code"])
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        open_id = (exc.errors or {}).get("submission_id")
        if open_id:
            return redirect(url_for("evidence.submission", submission_id=int(open_id[0])))
        return redirect(url_for("credentials.detail", code=data["code"]))
    db.session.commit()
    flash(
        _(
            "Attempt %(n)d of %(title)s started.",
            n=submission.attempt,
            title=submission.credential.title,
        ),
        "success",
    )
    return redirect(url_for("evidence.submission", submission_id=submission.id))


def _page(submission: Any, status: int = 200, **context: Any) -> Any:
    context.setdefault("errors", {})
    return render_template(
        "evidence/submission.html",
        submission=submission,
        credential=submission.credential,
        file_limit=human_size(current_app.config["FILE_MAX_BYTES"]),
        **context,
    ), status


@bp.get("/submissions/<int:submission_id>")
@roles_required(Role.TEACHER)
def submission(submission_id: int) -> Any:
    return _page(services.get_own_submission(current_user, submission_id))


def _change(submission_id: int, schema: Any, action: Any, done: str) -> Any:
    """Validate a form, apply one change, and come back to the submission page."""
    found = services.get_own_submission(current_user, submission_id)
    data, errors = parse_form(schema)
    if data is None:
        return _page(found, 422, errors=errors)
    try:
        action(found, data)
    except ServiceError as exc:
        db.session.rollback()
        found = services.get_own_submission(current_user, submission_id)
        return _page(found, exc.status, errors=exc.errors or {"_schema": [exc.message]})
    db.session.commit()
    flash(done, "success")
    return redirect(
        url_for("evidence.submission", submission_id=submission_id) + request.form.get("anchor", "")
    )


@bp.post("/submissions/<int:submission_id>/text")
@roles_required(Role.TEACHER)
def add_text(submission_id: int) -> Any:
    return _change(
        submission_id,
        TextItemSchema(),
        lambda s, d: services.add_text(current_user, s, d),
        N_("Your response is saved."),
    )


@bp.post("/submissions/<int:submission_id>/link")
@roles_required(Role.TEACHER)
def add_link(submission_id: int) -> Any:
    return _change(
        submission_id,
        LinkItemSchema(),
        lambda s, d: services.add_link(current_user, s, d),
        N_("The link is saved."),
    )


@bp.post("/submissions/<int:submission_id>/parts/<part_key>/files")
@roles_required(Role.TEACHER)
@allows_large_body
def upload_file(submission_id: int, part_key: str) -> Any:
    found = services.get_own_submission(current_user, submission_id)
    data, errors = parse_form(FileMetaSchema())
    upload = request.files.get("file")
    if data is None or upload is None or not upload.filename:
        errors = errors or {"file": [N_("Choose a file to upload.")]}
        return _page(found, 422, errors=errors)
    try:
        staged = stage_stream(upload.stream, limit=current_app.config["FILE_MAX_BYTES"])
        services.add_file(
            current_user,
            found,
            part_key,
            staged,
            upload.filename,
            alt_text=data["alt_text"],
            transcript=data["transcript"],
            lock_version=data["lock_version"],
        )
    except UploadTooLarge as exc:
        return _page(found, 413, errors={"file": [services.too_large(exc.limit).message]})
    except ServiceError as exc:
        db.session.rollback()
        found = services.get_own_submission(current_user, submission_id)
        return _page(found, exc.status, errors=exc.errors or {"file": [exc.message]})
    db.session.commit()
    flash(_("“%(name)s” is uploaded.", name=services.display_name(upload.filename)), "success")
    return redirect(
        url_for("evidence.submission", submission_id=submission_id) + f"#part-{part_key}"
    )


@bp.post("/submissions/<int:submission_id>/items/<int:item_id>/accessibility")
@roles_required(Role.TEACHER)
def accessibility(submission_id: int, item_id: int) -> Any:
    return _change(
        submission_id,
        AccessibilitySchema(),
        lambda s, d: services.update_accessibility(current_user, s, item_id, d),
        N_("The description is saved."),
    )


@bp.post("/submissions/<int:submission_id>/items/<int:item_id>/remove")
@roles_required(Role.TEACHER)
def remove_item(submission_id: int, item_id: int) -> Any:
    return _change(
        submission_id,
        LockSchema(),
        lambda s, d: services.remove_item(current_user, s, item_id, d["lock_version"]),
        N_("The item is removed."),
    )


@bp.post("/submissions/<int:submission_id>/submit")
@roles_required(Role.TEACHER)
def submit(submission_id: int) -> Any:
    return _change(
        submission_id,
        SubmitSchema(),
        lambda s, d: services.submit(current_user, s, d),
        N_("Submitted. We are checking that everything is there; this page will show the result."),
    )


@bp.post("/submissions/<int:submission_id>/withdraw")
@roles_required(Role.TEACHER)
def withdraw(submission_id: int) -> Any:
    return _change(
        submission_id,
        LockSchema(),
        lambda s, d: services.withdraw(current_user, s),
        N_("The submission is withdrawn."),
    )


@bp.post("/submissions/<int:submission_id>/delete")
@roles_required(Role.TEACHER)
def delete(submission_id: int) -> Any:
    found = services.get_own_submission(current_user, submission_id)
    services.delete_draft(current_user, found)
    db.session.commit()
    flash(N_("The draft is deleted."), "success")
    return redirect(url_for("evidence.portfolio"))


@bp.get("/evidence/items/<int:item_id>/download")
@login_required
def download(item_id: int) -> Any:
    return file_response(current_user, item_id)


@bp.get("/account/export")
@login_required
def export() -> Any:
    return export_response(current_user)


@bp.app_template_filter("messages")
def _messages(value: Any) -> list[str]:
    return flatten_messages(value)
