"""Who may see a submission and its files: the owner and admins here; higher
layers (reviews) add their own rule through ``register_viewer_rule``."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from accounts.models import User
from accounts.policy import is_admin
from evidence.models import Submission

ViewerRule = Callable[[User, Submission], bool]


def register_viewer_rule(app: Flask, rule: ViewerRule) -> None:
    app.extensions.setdefault("microcred_viewer_rules", []).append(rule)


def can_view(user: User, submission: Submission) -> bool:
    if not user.is_authenticated:
        return False
    if submission.teacher_id == user.id or is_admin(user):
        return True
    return any(
        rule(user, submission) for rule in current_app.extensions.get("microcred_viewer_rules", [])
    )
