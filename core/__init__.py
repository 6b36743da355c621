"""Core: app factory, configuration, extensions, jobs, audit, mail, health, CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application (see ``core.app.create_app``)."""
    from core.app import create_app as factory

    return factory(config)
