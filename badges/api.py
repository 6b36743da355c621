"""JSON API: verification (public), your badges, visibility, revocation."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask.views import MethodView
from flask_login import current_user

from accounts.policy import ADMIN_ROLES, login_required, roles_required
from badges import services
from badges.schemas import BadgeSchema, RevokeSchema, VerificationSchema, VisibilitySchema
from badges.verification import badge_id_from_url, verify_badge, verify_bytes
from badges.views import MAX_UPLOAD
from core.api_support import api_blueprint, public_read_only
from core.errors import InvalidError
from core.extensions import db, limiter

blp = api_blueprint(
    "badges_api",
    __name__,
    url_prefix="",
    description="Verify Open Badges 3.0 credentials; manage your badges; revoke (admins).",
)


@blp.route("/verifications", methods=["POST"])
@public_read_only
@limiter.limit("60 per minute")
@blp.response(200, VerificationSchema)
@blp.doc(
    description='Body: the credential JSON itself, or {"credential": …} (the JSON credential '
    'or a VC-JWT string), or {"id": "<badge id>"}, or {"url": "<this service\'s badge URL>"}, '
    "or a compact VC-JWT as text; or, as multipart field `file`, a certificate PDF, a baked "
    "PNG badge, a VC-JWT or a JSON credential. Only this service's own badge URLs are "
    "accepted, and they are never fetched. Answer: `valid`, a plain-language `verdict`, "
    "and every check with its reason."
)
def verifications() -> Any:
    """Verify a credential, a VC-JWT, a baked badge image or a certificate PDF"""
    upload = request.files.get("file")
    if upload is not None:
        data = upload.stream.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise InvalidError("The file is larger than 10 MiB; a certificate is much smaller.")
        return verify_bytes(data).as_dict()
    body = request.get_data(cache=False)
    if len(body) > MAX_UPLOAD:
        raise InvalidError("The body is larger than 10 MiB; a credential is much smaller.")
    try:
        parsed = json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        parsed = None
    if isinstance(parsed, dict) and "proof" not in parsed and len(parsed) == 1:
        if isinstance(parsed.get("id"), str):
            return verify_badge(parsed["id"]).as_dict()
        if isinstance(parsed.get("url"), str):
            return verify_badge(badge_id_from_url(parsed["url"])).as_dict()
    return verify_bytes(body).as_dict()


@blp.route("/badges")
class MyBadges(MethodView):
    @login_required
    @blp.response(200, BadgeSchema(many=True))
    def get(self) -> Any:
        """Your badges"""
        return services.badges_of(current_user)


@blp.route("/badges/<badge_id>")
class BadgeById(MethodView):
    @login_required
    @blp.arguments(VisibilitySchema)
    @blp.response(200, BadgeSchema)
    def patch(self, data: dict[str, Any], badge_id: str) -> Any:
        """Make your badge page public or private"""
        badge = services.set_public(current_user, services.get_badge(badge_id), data["public"])
        db.session.commit()
        return badge


@blp.route("/badges/<badge_id>/revoke")
class Revoke(MethodView):
    @roles_required(*ADMIN_ROLES)
    @blp.arguments(RevokeSchema)
    @blp.response(200, BadgeSchema)
    def post(self, data: dict[str, Any], badge_id: str) -> Any:
        """Revoke a badge with a reason (audited; the educator is told)"""
        badge = services.revoke(current_user, services.get_badge(badge_id), data["reason"])
        db.session.commit()
        return badge
