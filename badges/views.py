"""Public badge, issuer and status pages (stable URLs printed in QR codes), and verify."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.models import Role
from accounts.policy import ADMIN_ROLES, is_admin, roles_required
from badges import baking, certificates, issuers, services, status, vcjwt
from badges.schemas import LookupSchema, RevokeSchema, VisibilitySchema
from badges.verification import badge_id_from_url, verify_badge, verify_bytes
from core.errors import InvalidError, NotFoundError, ServiceError
from core.extensions import db, limiter
from core.forms import parse_form
from core.storage import attachment_response

bp = Blueprint("badges", __name__)
JSON_LD = "application/ld+json"
MAX_UPLOAD = 10 * 1024 * 1024
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _verify_limit() -> str:
    return "60 per minute"


@bp.get("/badges/<badge_id>")
@limiter.limit(_verify_limit)
def badge_page(badge_id: str) -> Any:
    badge = services.get_badge(badge_id)
    report = verify_badge(badge.id)
    owner = current_user.is_authenticated and current_user.id == badge.teacher_id
    show_details = (
        badge.public or owner or (current_user.is_authenticated and is_admin(current_user))
    )
    return render_template(
        "badges/badge.html",
        badge=badge,
        report=report,
        show_details=show_details,
        owner=owner,
        credential=services.credential_of(badge),
    )


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/badges/<badge_id>/credential.json")
@limiter.limit(_verify_limit)
def credential_json(badge_id: str) -> Response:
    badge = services.get_badge(badge_id)
    return _download(badge.credential_json, JSON_LD, f"badge-{badge.id}.json")


@bp.get("/badges/<badge_id>/credential.jwt")
@limiter.limit(_verify_limit)
def credential_jwt(badge_id: str) -> Response:
    """The same credential secured as a VC-JWT (signed at issue, served as stored)."""
    badge = services.get_badge(badge_id)
    if not badge.credential_jwt:
        raise NotFoundError("This badge was issued before VC-JWTs were offered; use the JSON.")
    return _download(badge.credential_jwt, vcjwt.MEDIA_TYPE, f"badge-{badge.id}.jwt")


@bp.get("/badges/<badge_id>/image.png")
@limiter.limit(_verify_limit)
def badge_png(badge_id: str) -> Response:
    """The badge picture baked with its signed credential (Open Badges 3.0 baking)."""
    badge = services.get_badge(badge_id)
    png = baking.bake_png(
        baking.render_png(badge.competency_code, badge.title, badge.hours), badge.credential_json
    )
    response = Response(png, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="badge-{badge.id}.png"'
    response.set_etag(hashlib.sha256(png).hexdigest())
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response.make_conditional(request)


@bp.get("/badges/<badge_id>/certificate.pdf")
@limiter.limit(_verify_limit)
def certificate_pdf(badge_id: str) -> Response:
    badge = services.get_badge(badge_id)
    if not badge.pdf_sha256:
        raise NotFoundError("The certificate is still being prepared; try again in a minute.")
    return attachment_response(badge.pdf_sha256, "application/pdf", f"certificate-{badge.id}.pdf")


@bp.get("/badges/<badge_id>/image.svg")
def badge_image(badge_id: str) -> Response:
    """The badge image named in the credential: accessible SVG with title and description."""
    badge = services.get_badge(badge_id)
    svg = render_template("badges/image.svg", badge=badge)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/issuers/<slug>/certificate.pem")
def certificate_pem(slug: str) -> Response:
    return Response(
        certificates.chain_pem(issuers.get_issuer(slug)), mimetype="application/x-pem-file"
    )


@bp.post("/badges/<badge_id>/visibility")
@roles_required()
def visibility(badge_id: str) -> Any:
    data, _errors = parse_form(VisibilitySchema())
    if data is not None:
        services.set_public(current_user, services.get_badge(badge_id), data["public"])
        db.session.commit()
        flash(
            "Your badge page is public." if data["public"] else "Your badge page is private.",
            "success",
        )
    return redirect(url_for("badges.badge_page", badge_id=badge_id))


@bp.post("/badges/<badge_id>/revoke")
@roles_required(*ADMIN_ROLES)
def revoke(badge_id: str) -> Any:
    data, _errors = parse_form(RevokeSchema())
    if data is None:
        flash("Give the reason for revoking.", "error")
        return redirect(url_for("badges.badge_page", badge_id=badge_id))
    try:
        services.revoke(current_user, services.get_badge(badge_id), data["reason"])
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("The badge is revoked; verification shows it at once.", "success")
    return redirect(url_for("badges.badge_page", badge_id=badge_id))


@bp.get("/issuers/<slug>")
def issuer_page(slug: str) -> Any:
    issuer = issuers.get_issuer(slug)
    return render_template(
        "badges/issuer.html",
        issuer=issuer,
        profile=issuers.profile(issuer),
        did=issuers.did_for(issuer),
    )


@bp.get("/issuers/<slug>/did.json")
def did_json(slug: str) -> Response:
    response = jsonify(issuers.did_document(issuers.get_issuer(slug)))
    response.mimetype = "application/did+json"
    return response


@bp.get("/status/<slug>")
@limiter.limit(_verify_limit)
def status_list(slug: str) -> Response:
    found = status.get_list(slug)
    if found is None or not found.credential_json:
        raise NotFoundError("No such status list.")
    response = Response(found.credential_json, mimetype="application/vc+ld+json")
    response.set_etag(status.etag(found))
    response.cache_control.public = True
    response.cache_control.max_age = 60
    return response.make_conditional(request)


def _lookup_id(text: str) -> str | None:
    """A bare badge id, or the id in one of this service's own badge URLs."""
    text = text.strip()
    if "/" in text:
        return badge_id_from_url(text)  # a URL elsewhere is refused, never fetched
    match = _UUID.fullmatch(text.lower())
    return match.group(0) if match else None


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit(_verify_limit, methods=["POST"])
def verify() -> Any:
    report = None
    errors: dict[str, Any] = {}
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            raw = upload.stream.read(MAX_UPLOAD + 1)
            if len(raw) > MAX_UPLOAD:
                errors = {
                    "file": [
                        "The file is larger than 10 MiB; a credential or certificate is much smaller."
                    ]
                }
            else:
                try:
                    report = verify_bytes(raw)
                except InvalidError as exc:
                    errors = {"file": [exc.message]}
        else:
            data, errors = parse_form(LookupSchema())
            if data is not None:
                try:
                    badge_id = _lookup_id(data["badge"])
                except InvalidError as exc:
                    errors = {"badge": [exc.message]}
                else:
                    if badge_id is not None:
                        return redirect(url_for("badges.badge_page", badge_id=badge_id))
                    errors = {
                        "badge": [
                            "Enter the badge id (it looks like 8-4-4-4-12 letters and digits) "
                            "or the verification URL."
                        ]
                    }
    status_code = 422 if errors else 200
    return render_template("badges/verify.html", report=report, errors=errors), status_code


@bp.get("/verifier")
@roles_required(Role.STATE_VERIFIER)
def verifier_home() -> Any:
    return render_template("badges/verify.html", report=None, errors={}, verifier_home=True)


@bp.app_template_global("badges_of")
def _badges_of(user: Any) -> list[Any]:
    return services.badges_of(user)
