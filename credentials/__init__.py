"""Credentials: competency frameworks (CASE), micro-credentials, stacks, the catalog."""

from __future__ import annotations

from flask import Flask

from core.api_support import register_api
from core.registry import Seeder, register_seeder


def init_app(app: Flask) -> None:
    from credentials import api, case_api, operations, seed, views

    app.register_blueprint(views.bp)
    register_api(app, api.blp)
    case_api.register(app)
    register_seeder(app, Seeder("catalog", seed.seed_catalog))
    operations.register(app)
