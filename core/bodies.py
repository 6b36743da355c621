"""Request body limits: small by default, large only where a view asks for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, request

F = TypeVar("F", bound=Callable[..., object])
MULTIPART_OVERHEAD = 1024 * 1024


def allows_large_body(view: F) -> F:
    """Mark an upload view: its body may be as large as FILE_MAX_BYTES."""
    view.allow_large_body = True  # type: ignore[attr-defined]
    return view


def apply_body_limit() -> None:
    """Runs before every other hook (CSRF reads the form, so it must come first)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "allow_large_body", False):
        request.max_content_length = current_app.config["FILE_MAX_BYTES"] + MULTIPART_OVERHEAD
