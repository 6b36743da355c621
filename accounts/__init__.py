"""Accounts: users, organizations, roles, sign-in, API tokens."""

from __future__ import annotations

from flask import Flask, request

from core.api_support import register_api
from core.extensions import login_manager
from core.registry import Seeder, register_seeder, set_role_home


def init_app(app: Flask) -> None:
    from accounts import api, demo, services, views
    from accounts.models import Role

    login_manager.login_view = "accounts.sign_in"
    login_manager.login_message = "Please sign in to continue."
    login_manager.user_loader(services.load_user_from_session)

    @login_manager.request_loader
    def _bearer_user(_request: object) -> object:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        return services.user_for_api_token(secret.strip())

    app.register_blueprint(views.bp)
    register_api(app, api.blp)
    for role, endpoint in (
        (Role.PROGRAM_ADMIN, "accounts.admin_home"),
        (Role.SITE_ADMIN, "accounts.admin_home"),
    ):
        set_role_home(app, str(role), endpoint)
    register_seeder(app, Seeder("demo accounts", demo.ensure_demo_accounts, demo_only=True))
