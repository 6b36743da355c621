"""``GET /healthz``: database, Redis and workers, 503 when any is down."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.extensions import db, limiter
from core.jobs import redis_connection

bp = Blueprint("health", __name__)


def check_health() -> dict[str, Any]:
    checks: dict[str, Any] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok"}
    except SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = {"status": "down", "error": exc.__class__.__name__}
    try:
        connection = redis_connection()
        connection.ping()
        checks["redis"] = {"status": "ok"}
        workers = Worker.all(connection=connection)
        checks["workers"] = {
            "status": "ok" if workers else "down",
            "count": len(workers),
        }
    except RedisError as exc:
        checks["redis"] = {"status": "down", "error": exc.__class__.__name__}
        checks["workers"] = {"status": "unknown", "count": None}
    healthy = all(check["status"] == "ok" for check in checks.values())
    return {"status": "ok" if healthy else "down", "checks": checks}


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Any:
    report = check_health()
    return jsonify(report), 200 if report["status"] == "ok" else 503
