"""JSON API for accounts: who am I, personal API tokens, user roles."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_login import current_user

from accounts import services
from accounts.models import Role
from accounts.policy import login_required, roles_required
from accounts.schemas import (
    ApiTokenCreateSchema,
    ApiTokenSchema,
    NewApiTokenSchema,
    RolesUpdateSchema,
    UserSchema,
)
from core.api_support import api_blueprint

blp = api_blueprint(
    "accounts_api",
    __name__,
    url_prefix="",
    description="Your account, personal API tokens and (site admins) user roles.",
)


@blp.route("/me")
class Me(MethodView):
    @login_required
    @blp.response(200, UserSchema)
    def get(self) -> Any:
        """The signed-in user"""
        return current_user


@blp.route("/tokens")
class Tokens(MethodView):
    @login_required
    @blp.response(200, ApiTokenSchema(many=True))
    def get(self) -> Any:
        """Your API tokens (secrets are never shown again)"""
        return services.list_api_tokens(current_user)

    @login_required
    @blp.arguments(ApiTokenCreateSchema)
    @blp.response(201, NewApiTokenSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a token; the secret is in this response only"""
        token, secret = services.create_api_token(current_user, data["name"])
        fields = ApiTokenSchema().fields
        return {**{name: getattr(token, name) for name in fields}, "token": secret}


@blp.route("/tokens/<int:token_id>")
class TokenById(MethodView):
    @login_required
    @blp.response(200, ApiTokenSchema)
    def delete(self, token_id: int) -> Any:
        """Revoke a token; it stops working at once"""
        return services.revoke_api_token(current_user, token_id)


@blp.route("/users")
class Users(MethodView):
    @roles_required(Role.SITE_ADMIN)
    @blp.response(200, UserSchema(many=True))
    def get(self) -> Any:
        """All users (site admins)"""
        return services.list_users()


@blp.route("/users/<int:user_id>/roles")
class UserRoles(MethodView):
    @roles_required(Role.SITE_ADMIN)
    @blp.arguments(RolesUpdateSchema)
    @blp.response(200, UserSchema)
    def put(self, data: dict[str, Any], user_id: int) -> Any:
        """Set the complete list of a user's roles (site admins)"""
        return services.set_roles(current_user, services.get_user(user_id), data["roles"])
