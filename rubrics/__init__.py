"""Rubrics: versioned, immutable once published; criteria, levels, passing rules."""

from __future__ import annotations

from flask import Flask

from core.api_support import register_api


def init_app(app: Flask) -> None:
    from rubrics import api, models  # noqa: F401 - models register with the metadata

    register_api(app, api.blp)
