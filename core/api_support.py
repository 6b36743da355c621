"""Shared plumbing for the JSON API blueprints of every domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_smorest import Blueprint

from core.errors import MicrocredApi
from core.extensions import csrf

F = TypeVar("F", bound=Callable[..., object])
API_PREFIX = "/api/v1"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def uses_bearer_token() -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


def _csrf_unless_bearer() -> None:
    # Token clients cannot be tricked by another site; cookie sessions can.
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "public_read_only", False):
        return
    if request.method in UNSAFE_METHODS and not uses_bearer_token():
        csrf.protect()


def public_read_only(view: F) -> F:
    """Mark a POST that needs no sign-in and changes nothing (e.g. verifying a
    credential): there is no session state for another site to abuse."""
    view.public_read_only = True  # type: ignore[attr-defined]
    return view


def file_download(
    blueprint: Blueprint, *media_types: str, description: str | None = None
) -> Callable[[F], F]:
    """Document a 200 answer that is a file of one of these media types, next to any
    JSON answer the operation already documents."""

    def decorate(view: F) -> F:
        for media in media_types:
            schema = {"type": "object"} if media.endswith("json") else {"type": "string"}
            view = blueprint.alt_response(
                200, schema=schema, content_type=media, description=description, success=True
            )(view)
        return view

    return decorate


def api_blueprint(name: str, import_name: str, **kwargs: Any) -> Blueprint:
    """A flask-smorest blueprint with the API's CSRF rule built in."""
    blueprint = Blueprint(name, import_name, **kwargs)
    csrf.exempt(blueprint)
    blueprint.before_request(_csrf_unless_bearer)
    return blueprint


def get_api(app: Flask) -> MicrocredApi:
    return app.extensions["microcred_api"]


def register_api(app: Flask, blueprint: Blueprint) -> None:
    """Register an API blueprint under /api/v1."""
    get_api(app).register_blueprint(
        blueprint, url_prefix=f"{API_PREFIX}{blueprint.url_prefix or ''}"
    )
