"""Licensure transcripts: the educator's page, the state verifier's lookup, share
links, and the JSON API; exports as CSV, signed PDF and signed CLR 2.0."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_login import current_user
from marshmallow import Schema, fields, pre_load, validate

from accounts.models import Role, User
from accounts.policy import ADMIN_ROLES, login_required, roles_required
from accounts.schemas import FormSchema
from badges import transcripts
from core.api_support import api_blueprint, file_download, register_api
from core.db_types import utcnow
from core.errors import NotFoundError, ServiceError
from core.extensions import db, limiter
from core.forms import flatten_messages, parse_form

bp = Blueprint("badges_transcripts", __name__)
api_blp = api_blueprint(
    "badges_transcripts_api",
    __name__,
    url_prefix="/transcripts",
    description="Licensure transcripts: your own, those shared with your state (verifiers), "
    "and share links. `format`: json (default), csv, pdf (signed) or clr (signed CLR 2.0).",
)
FORMATS = ("json", "csv", "pdf", "clr")
LINK_DAYS = (7, 30, 90, 365)
_TOKEN = re.compile(r"(?:/transcripts/shared/)?([A-Za-z0-9_-]{20,100})/?$")


def register(app: Flask) -> None:
    """Add the pages and the API to ``app`` (once) and the models to the metadata."""
    from badges import transcript_models  # noqa: F401  (the tables join the metadata)

    if bp.name in app.blueprints:
        return
    app.register_blueprint(bp)
    register_api(app, api_blp)


def _limit() -> str:
    return "60 per minute"


# --- schemas -----------------------------------------------------------------------


class CreditRuleOutSchema(Schema):
    state = fields.String()
    name = fields.String()
    unit = fields.String()
    unit_plural = fields.String()
    basis = fields.String()
    per_credential = fields.Float(allow_none=True)
    per_hour = fields.Float(allow_none=True)
    cap_per_cycle = fields.Float(allow_none=True)
    rule_text = fields.String()
    alternative_rule_text = fields.String(allow_none=True)
    renewal = fields.String(allow_none=True)
    credit_granting_body = fields.String()
    uncertain = fields.Boolean()
    note = fields.String()
    source = fields.String()


class TranscriptLineSchema(Schema):
    badge_id = fields.String()
    title = fields.String()
    code = fields.String()
    kind = fields.String()
    version = fields.String()
    issued_on = fields.Date()
    expires_on = fields.Date(allow_none=True)
    hours = fields.Float()
    credit = fields.Float(allow_none=True)
    conversion = fields.String(allow_none=True)
    alternative = fields.String(allow_none=True)
    verification_url = fields.String()
    status = fields.String(metadata={"description": "valid, revoked, expired or not valid"})
    reason = fields.String()
    rejection_code = fields.String(allow_none=True)


class TranscriptSchema(Schema):
    educator_id = fields.Integer(attribute="teacher_id")
    name = fields.String()
    license_number = fields.String(allow_none=True)
    license_state = fields.String(allow_none=True)
    issuer = fields.String(attribute="issuer_name")
    generated_at = fields.DateTime()
    rule = fields.Nested(CreditRuleOutSchema, allow_none=True)
    badges = fields.List(fields.Nested(TranscriptLineSchema), attribute="lines")
    excluded = fields.List(
        fields.Nested(TranscriptLineSchema),
        metadata={"description": "Revoked, expired or invalid badges: never counted"},
    )
    total_hours = fields.Float()
    total_credit = fields.Float(allow_none=True)
    counted_credit = fields.Float(
        allow_none=True, metadata={"description": "The total after the rule's cap, if any"}
    )
    totals = fields.String(attribute="totals_text")


class FormatSchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))


class LookupQuerySchema(FormatSchema):
    license_number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    state = fields.String(required=True, validate=validate.Length(equal=2))


class ShareLinkCreateSchema(FormSchema):
    expires_in_days = fields.Integer(
        load_default=30,
        allow_none=True,
        validate=validate.Range(min=1, max=transcripts.MAX_LINK_DAYS),
        metadata={"description": "Null: until revoked"},
    )
    label = fields.String(load_default=None, validate=validate.Length(max=100))

    @pre_load
    def _never(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict) and data.get("expires_in_days") == "never":
            return {**data, "expires_in_days": None}
        return data


class ShareLinkSchema(Schema):
    id = fields.Integer()
    label = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewShareLinkSchema(ShareLinkSchema):
    token = fields.String(metadata={"description": "Shown once; only its hash is kept"})
    url = fields.String()


class ShareSchema(Schema):
    shared_with = fields.String(allow_none=True, metadata={"description": "State code or null"})


# The API answers JSON unless the `format` query asks for a file.
documents_export_files = file_download(
    api_blp,
    "text/csv",
    "application/pdf",
    "application/ld+json",
    description="The transcript (JSON), or the CSV, signed PDF or CLR 2.0 file `format` asks for",
)


# --- responses -----------------------------------------------------------------------


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # share-link URLs carry the token
    return response


def _download(data: str | bytes, mimetype: str, name: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    )
    return _private(response)


def _export(teacher: User, fmt: str) -> Response | transcripts.Transcript:
    """A file download, or the transcript itself for the API to serialize."""
    transcript = transcripts.build_transcript(teacher)
    stem = f"transcript-{transcript.teacher_id}-{transcript.generated_at:%Y%m%d}"
    if fmt == "csv":
        return _download(transcripts.transcript_csv(transcript), "text/csv", f"{stem}.csv")
    if fmt == "pdf":
        data = transcripts.transcript_pdf(transcript)
        db.session.commit()  # the issuer's first signing certificate is kept
        return _download(data, "application/pdf", f"{stem}.pdf")
    if fmt == "clr":
        clr = transcripts.transcript_clr(transcript)
        db.session.commit()
        return _download(
            json.dumps(clr, indent=2, ensure_ascii=False),
            "application/ld+json",
            f"{stem}-clr.json",
        )
    return transcript


def _page(teacher: User, *, mode: str, **extra: Any) -> Response:
    transcript = transcripts.build_transcript(teacher)
    return _private(
        Response(
            render_template(
                "badges/transcript.html",
                transcript=transcript,
                mode=mode,
                amount_text=transcripts.amount_text,
                **extra,
            )
        )
    )


def _fmt(value: str) -> str:
    if value not in FORMATS[1:]:
        raise NotFoundError("No such export.")
    return value


# --- the educator's own page -----------------------------------------------------


def _own_page(**extra: Any) -> Response:
    teacher = current_user._get_current_object()
    state = teacher.license_state
    return _page(
        teacher,
        mode="own",
        share=transcripts.active_share(teacher, state) if state else None,
        links=transcripts.links_of(teacher),
        link_days=LINK_DAYS,
        now=utcnow(),
        **extra,
    )


@bp.get("/portfolio/transcript")
@login_required
def my_transcript() -> Any:
    return _own_page()


@bp.get("/portfolio/transcript/export/<fmt>")
@login_required
def my_export(fmt: str) -> Any:
    return _export(current_user._get_current_object(), _fmt(fmt))


@bp.post("/portfolio/transcript/share")
@login_required
def share() -> Any:
    teacher = current_user._get_current_object()
    if request.form.get("shared") == "false":
        transcripts.stop_sharing(teacher)
        db.session.commit()
        flash("Your state's verifiers can no longer look your transcript up.", "success")
        return redirect(url_for("badges_transcripts.my_transcript"))
    try:
        transcripts.share_with_state(teacher)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(
            f"Verifiers of {teacher.license_state} can now look your transcript up "
            "by your licence number.",
            "success",
        )
    return redirect(url_for("badges_transcripts.my_transcript"))


@bp.post("/portfolio/transcript/links")
@login_required
def create_link() -> Any:
    data, errors = parse_form(ShareLinkCreateSchema())
    if data is None:
        flash("; ".join(flatten_messages(errors)), "error")
        return redirect(url_for("badges_transcripts.my_transcript"))
    _link, token = transcripts.create_link(
        current_user._get_current_object(),
        expires_in_days=data["expires_in_days"],
        label=data["label"],
    )
    db.session.commit()
    # Shown on this response only: the token is never stored or shown again.
    return _own_page(new_link_url=transcripts.link_url(token))


@bp.post("/portfolio/transcript/links/<int:link_id>/revoke")
@login_required
def revoke_link(link_id: int) -> Any:
    transcripts.revoke_link(current_user._get_current_object(), link_id)
    db.session.commit()
    flash("The link no longer works.", "success")
    return redirect(url_for("badges_transcripts.my_transcript"))


# --- state verifiers ---------------------------------------------------------------


@bp.get("/verifier/transcripts")
@roles_required(Role.STATE_VERIFIER, *ADMIN_ROLES)
def lookup() -> Any:
    viewer = current_user._get_current_object()
    number = request.args.get("license_number", "").strip()
    state = request.args.get("state", "").strip().upper()
    link = request.args.get("link", "").strip()
    context = {
        "verifier_state": transcripts.verifier_state(viewer),
        "license_number": number,
        "state": state or transcripts.verifier_state(viewer) or "",
        "matches": [],
        "not_found": False,
    }
    if link:
        match = _TOKEN.search(link)
        if match:
            return redirect(url_for("badges_transcripts.shared", token=match.group(1)))
        context["not_found"] = True
    elif number or state:
        matches = transcripts.find_licensees(viewer, number, state)
        if len(matches) == 1:
            return redirect(url_for("badges_transcripts.educator", teacher_id=matches[0].id))
        context.update(matches=matches, not_found=not matches)
    status = 404 if context["not_found"] else 200
    return _private(Response(render_template("badges/transcript_lookup.html", **context), status))


@bp.get("/verifier/transcripts/<int:teacher_id>")
@login_required
def educator(teacher_id: int) -> Any:
    teacher = transcripts.educator_for(current_user._get_current_object(), teacher_id)
    return _page(teacher, mode="verifier")


@bp.get("/verifier/transcripts/<int:teacher_id>/export/<fmt>")
@login_required
def educator_export(teacher_id: int, fmt: str) -> Any:
    teacher = transcripts.educator_for(current_user._get_current_object(), teacher_id)
    return _export(teacher, _fmt(fmt))


# --- share links (anyone holding one) -----------------------------------------------


@bp.get("/transcripts/shared/<token>")
@limiter.limit(_limit)
def shared(token: str) -> Any:
    return _page(transcripts.educator_for_token(token), mode="link", token=token)


@bp.get("/transcripts/shared/<token>/export/<fmt>")
@limiter.limit(_limit)
def shared_export(token: str, fmt: str) -> Any:
    return _export(transcripts.educator_for_token(token), _fmt(fmt))


# --- JSON API ------------------------------------------------------------------------


@api_blp.route("")
class Lookup(MethodView):
    @roles_required(Role.STATE_VERIFIER, *ADMIN_ROLES)
    @api_blp.arguments(LookupQuerySchema, location="query")
    @api_blp.response(200, TranscriptSchema(many=True))
    @documents_export_files
    def get(self, args: dict[str, Any]) -> Any:
        """Transcripts shared with your state, by licence number and state (verifiers)"""
        matches = transcripts.find_licensees(current_user, args["license_number"], args["state"])
        if not matches:
            raise NotFoundError(transcripts.NOT_FOUND)
        if args["format"] != "json":
            return _export(matches[0], args["format"])
        return [transcripts.build_transcript(teacher) for teacher in matches]


@api_blp.route("/mine")
class Mine(MethodView):
    @login_required
    @api_blp.arguments(FormatSchema, location="query")
    @api_blp.response(200, TranscriptSchema)
    @documents_export_files
    def get(self, args: dict[str, Any]) -> Any:
        """Your own transcript"""
        return _export(current_user._get_current_object(), args["format"])


@api_blp.route("/mine/share")
class MyShare(MethodView):
    @login_required
    @api_blp.response(200, ShareSchema)
    def put(self) -> Any:
        """Share your transcript with your licence state's verifiers"""
        share_row = transcripts.share_with_state(current_user._get_current_object())
        db.session.commit()
        return {"shared_with": share_row.us_state}

    @login_required
    @api_blp.response(200, ShareSchema)
    def delete(self) -> Any:
        """Stop sharing your transcript with any state"""
        transcripts.stop_sharing(current_user._get_current_object())
        db.session.commit()
        return {"shared_with": None}


@api_blp.route("/mine/links")
class MyLinks(MethodView):
    @login_required
    @api_blp.response(200, ShareLinkSchema(many=True))
    def get(self) -> Any:
        """Your share links"""
        return transcripts.links_of(current_user._get_current_object())

    @login_required
    @api_blp.arguments(ShareLinkCreateSchema)
    @api_blp.response(201, NewShareLinkSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a share link (the token is shown once)"""
        link, token = transcripts.create_link(
            current_user._get_current_object(),
            expires_in_days=data["expires_in_days"],
            label=data["label"],
        )
        db.session.commit()
        shown = {name: getattr(link, name) for name in ShareLinkSchema().fields}
        return {**shown, "token": token, "url": transcripts.link_url(token)}


@api_blp.route("/mine/links/<int:link_id>")
class MyLink(MethodView):
    @login_required
    @api_blp.response(200, ShareLinkSchema)
    def delete(self, link_id: int) -> Any:
        """Revoke a share link"""
        link = transcripts.revoke_link(current_user._get_current_object(), link_id)
        db.session.commit()
        return link


@api_blp.route("/<int:teacher_id>")
class ByEducator(MethodView):
    @login_required
    @api_blp.arguments(FormatSchema, location="query")
    @api_blp.response(200, TranscriptSchema)
    @documents_export_files
    def get(self, args: dict[str, Any], teacher_id: int) -> Any:
        """An educator's transcript: your own, one shared with your state, or any (admins)"""
        teacher = transcripts.educator_for(current_user._get_current_object(), teacher_id)
        return _export(teacher, args["format"])


@api_blp.route("/shared/<token>")
class Shared(MethodView):
    decorators = [limiter.limit(_limit)]

    @api_blp.arguments(FormatSchema, location="query")
    @api_blp.response(200, TranscriptSchema)
    @documents_export_files
    def get(self, args: dict[str, Any], token: str) -> Any:
        """The transcript behind a share link (no sign-in: the link is the permission)"""
        return _export(transcripts.educator_for_token(token), args["format"])
