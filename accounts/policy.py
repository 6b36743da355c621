"""Who may do what: the one place for role and ownership checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from accounts.models import Role, User
from core.errors import NotFoundError, wants_json
from core.i18n import _

P = ParamSpec("P")
R = TypeVar("R")

ADMIN_ROLES = (Role.PROGRAM_ADMIN, Role.SITE_ADMIN)


def _deny_anonymous() -> Any:
    if wants_json():
        abort(401)
    flash(_("Please sign in to continue."), "info")
    return redirect(url_for("accounts.sign_in", next=request.full_path.rstrip("?")))


def roles_required(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R | Any]]:
    """Allow signed-in users who hold any of ``roles``; 401/redirect for
    anonymous users, 403 for everyone else."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Any]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Any:
            if not current_user.is_authenticated:
                return _deny_anonymous()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


login_required = roles_required()


def is_admin(user: User) -> bool:
    return user.has_role(*ADMIN_ROLES)


def ensure_owner_or_admin(user: User, owner_id: int) -> None:
    """Someone else's record answers 404, so its existence is not revealed."""
    if user.id != owner_id and not is_admin(user):
        raise NotFoundError("Not found.")
