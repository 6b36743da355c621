"""Account operations; the only place that changes account models."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.models import (
    ApiToken,
    Organization,
    OrganizationKind,
    Role,
    User,
    UserRole,
    UserStatus,
    new_session_token,
)
from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError
from core.extensions import db
from core.i18n import N_
from core.mail import public_url, send_mail

hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory profile
# The test suite's profile (PASSWORD_HASH_PROFILE=test): argon2id still, at its lowest
# cost; production refuses to start with it (see core.config).
_test_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
# Verified when no user matches, so a missing account takes as long as a wrong password.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "mc_"  # noqa: S105 - a public prefix, not a secret


def _hasher() -> PasswordHasher:
    if has_app_context() and current_app.config.get("PASSWORD_HASH_PROFILE") == "test":
        return _test_hasher
    return hasher


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def _password_matches(user: User | None, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and bool(user)
    except (VerificationError, InvalidHashError):
        return False


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError("No such user.")
    return user


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def load_user_from_session(session_id: str) -> User | None:
    """Flask-Login user loader: ``<id>.<session token>``."""
    user_id, _, token = session_id.partition(".")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def create_user(
    *,
    name: str,
    email: str,
    password: str,
    roles: Iterable[Role] = (Role.TEACHER,),
    license_number: str | None = None,
    license_state: str | None = None,
    organization: Organization | None = None,
    organization_id: int | None = None,
    is_demo: bool = False,
    actor_id: int | None = None,
) -> User:
    email = email.strip().lower()
    if find_user_by_email(email) is not None:
        raise ConflictError(
            N_("An account with this email already exists. Sign in, or reset your password."),
            {"email": [N_("An account with this email already exists.")]},
        )
    user = User(
        name=name,
        email=email,
        password_hash=hash_password(password),
        license_number=license_number,
        license_state=license_state,
        organization_id=organization.id if organization is not None else organization_id,
        is_demo=is_demo,
    )
    user.role_rows = [UserRole(role=str(role), granted_by_id=actor_id) for role in set(roles)]
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as exc:  # two sign-ups racing for one email
        db.session.rollback()
        raise ConflictError(N_("An account with this email already exists.")) from exc
    audit.record(
        "user.created",
        "user",
        user.id,
        actor_id=actor_id or user.id,
        after={"email": email, "roles": sorted(str(r) for r in user.roles)},
    )
    return user


def register_teacher(data: dict[str, Any]) -> User:
    """Teacher self sign-up; other roles are granted by admins."""
    user = create_user(
        name=data["name"],
        email=data["email"],
        password=data["password"],
        roles=(Role.TEACHER,),
        license_number=data.get("license_number"),
        license_state=data.get("license_state"),
    )
    user.locale = data.get("locale")  # the language signed up in; mail follows it
    send_mail(user.email, "welcome", user=user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    user = find_user_by_email(email)
    if not _password_matches(user, password):
        return None
    assert user is not None
    if not user.is_active:
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def update_profile(user: User, data: dict[str, Any]) -> User:
    before = {
        "name": user.name,
        "license_number": user.license_number,
        "license_state": user.license_state,
    }
    user.name = data["name"]
    user.license_number = data.get("license_number")
    user.license_state = data.get("license_state")
    user.locale = data.get("locale")
    audit.record(
        "user.profile_updated",
        "user",
        user.id,
        actor_id=user.id,
        before=before,
        after={
            "name": user.name,
            "license_number": user.license_number,
            "license_state": user.license_state,
        },
    )
    db.session.commit()
    return user


def set_roles(actor: User, user: User, roles: Iterable[str]) -> User:
    wanted = {Role(role) for role in roles}
    if not wanted:
        raise InvalidError("Give at least one role.", {"roles": ["Give at least one role."]})
    if user.id == actor.id and Role.SITE_ADMIN not in wanted:
        raise ForbiddenError("You cannot remove your own site admin role.")
    before = sorted(str(r) for r in user.roles)
    user.role_rows = [row for row in user.role_rows if Role(row.role) in wanted]
    for role in wanted - user.roles:
        user.role_rows.append(UserRole(role=str(role), granted_by_id=actor.id))
    audit.record(
        "user.roles_changed",
        "user",
        user.id,
        actor_id=actor.id,
        before={"roles": before},
        after={"roles": sorted(str(r) for r in wanted)},
    )
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.name, User.id)))


def get_or_create_organization(
    name: str, kind: OrganizationKind, us_state: str | None
) -> Organization:
    org = db.session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name, kind=str(kind), us_state=us_state)
        db.session.add(org)
        db.session.flush()
    return org


# --- API tokens ------------------------------------------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Return the stored token and its secret, which is never stored or shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, token_hash=_token_digest(secret), prefix=secret[:10]
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token.created",
        "api_token",
        token.id,
        actor_id=user.id,
        after={"name": name, "prefix": token.prefix},
    )
    db.session.commit()
    return token, secret


def list_api_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_api_token(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFoundError("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("api_token.revoked", "api_token", token.id, actor_id=user.id)
        db.session.commit()
    return token


def user_for_api_token(secret: str) -> User | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token.user


# --- Password reset --------------------------------------------------------


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def request_password_reset(email: str) -> None:
    """Mail a reset link if the account exists; say nothing either way."""
    user = find_user_by_email(email)
    if user is None or not user.is_active:
        return
    token = _reset_serializer().dumps({"uid": user.id, "st": user.session_token})
    link = public_url("accounts.reset_password", token=token)
    send_mail(
        user.email,
        "password_reset",
        user=user,
        link=link,
        minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
    )
    audit.record("user.password_reset_requested", "user", user.id)
    db.session.commit()


def user_for_reset_token(token: str) -> User:
    try:
        data = _reset_serializer().loads(
            token, max_age=current_app.config["PASSWORD_RESET_MAX_AGE"]
        )
    except SignatureExpired as exc:
        raise InvalidError(N_("This reset link has expired. Ask for a new one.")) from exc
    except BadSignature as exc:
        raise InvalidError(N_("This reset link is not valid. Ask for a new one.")) from exc
    user = db.session.get(User, int(data.get("uid", 0)))
    # The session token changes with the password, so a link works only once.
    if user is None or not secrets.compare_digest(user.session_token, str(data.get("st"))):
        raise InvalidError(N_("This reset link was already used. Ask for a new one."))
    return user


def reset_password(token: str, password: str) -> User:
    user = user_for_reset_token(token)
    user.password_hash = hash_password(password)
    user.session_token = new_session_token()
    audit.record("user.password_reset", "user", user.id, actor_id=user.id)
    db.session.commit()
    return user


def disable_user(actor: User, user: User) -> None:
    if actor.id == user.id:
        raise ForbiddenError("You cannot disable your own account.")
    user.status = UserStatus.DISABLED
    user.session_token = new_session_token()
    audit.record("user.disabled", "user", user.id, actor_id=actor.id)
    db.session.commit()
