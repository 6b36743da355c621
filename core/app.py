"""The application factory."""

from __future__ import annotations

import importlib
import importlib.resources
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from flask import Flask, request, send_from_directory
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import default_exceptions

from core import config as config_module
from core import i18n
from core.bodies import apply_body_limit
from core.db_types import BoundedIntegerConverter
from core.errors import MicrocredApi, ServiceError, register_outage_handlers
from core.extensions import csrf, db, limiter, login_manager, migrate
from core.jobs import PeriodicJob, register_periodic, relay_if_committed

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment; ``config`` overrides (tests use it)."""
    overrides = dict(config or {})
    instance_path = Path(
        overrides.pop("INSTANCE_PATH", None) or config_module.default_instance_path()
    )
    app = Flask(
        "microcred",
        instance_path=str(instance_path),
        template_folder=str(importlib.resources.files("templates")),
        static_folder=str(Path(__file__).parent / "static"),
        static_url_path="/static",
    )
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(config_module.load_config(instance_path, overrides))
    config_module.check_production(app.config)
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = f"unix://{instance_path / 'redis' / 'redis.sock'}?db=0"
    instance_path.mkdir(parents=True, exist_ok=True)

    _init_extensions(app)
    _register_core_routes(app)
    for domain in app.config["DOMAINS"]:
        importlib.import_module(domain).init_app(app)
    register_periodic(
        app,
        PeriodicJob("core.jobs.relay_outbox_job", interval=int(app.config["OUTBOX_RELAY_SECONDS"])),
    )
    register_periodic(app, PeriodicJob("core.recovery.recover_abandoned_jobs_job", interval=60))
    return app


def _limiter_storage(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        path, _, _query = redis_url[len("unix://") :].partition("?")
        return f"redis+unix://{path}"
    return redis_url


def _init_extensions(app: Flask) -> None:
    app.before_request(apply_body_limit)  # before CSRF, which reads the body
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    login_manager.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limiter_storage(app.config["REDIS_URL"]))
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2})
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    # One Api per app: its OpenAPI document lists that app's blueprints.
    app.extensions["microcred_api"] = MicrocredApi(app)
    app.jinja_env.globals["csrf_token"] = generate_csrf


def _register_core_routes(app: Flask) -> None:
    from core.health import bp as health_bp

    app.register_blueprint(health_bp)

    swagger_dir = swagger_ui_bundle.swagger_ui_path

    @app.get("/static/swagger-ui/<path:filename>")
    def swagger_ui_static(filename: str) -> Any:
        return send_from_directory(swagger_dir, filename)

    @app.errorhandler(ServiceError)
    def _service_error(error: ServiceError) -> Any:
        http_error = default_exceptions[error.status]()
        http_error.data = {"message": error.message, "errors": error.errors, "code": error.code}
        return app.extensions["microcred_api"].handle_http_exception(http_error)

    register_outage_handlers(app)

    @app.after_request
    def _after_request(response: Any) -> Any:
        relay_if_committed()
        _security_headers(app, response)
        return response

    @app.teardown_appcontext
    def _forget_session(_exc: BaseException | None) -> None:
        db.session.remove()


def _security_headers(app: Flask, response: Any) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if request.path == "/api/docs":
        # Swagger UI boots with an inline script.
        csp = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    else:
        csp = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    headers.setdefault("Content-Security-Policy", csp)
    if app.config["MICROCRED_ENV"] == "production":
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
