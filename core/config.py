"""Configuration from environment variables, with safe embedded defaults.

Embedded mode (the default) keeps everything in the instance folder: a SQLite
database, an embedded Redis, an outbox folder for mail, local storage. Production
mode (``MICROCRED_ENV=production``) refuses to start with a development secret or
without the settings a real deployment needs, and says which.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production
PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "MAIL_SERVER",
    "BADGE_KEY_SECRET",
)


class ConfigError(RuntimeError):
    """The configuration cannot run the service; the message says what to set."""


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, *, minimum: int | None = None, why: str = "") -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}{why}, got {value}")
    return value


def default_instance_path() -> Path:
    return Path(os.environ.get("MICROCRED_INSTANCE", Path.cwd() / "instance")).resolve()


def sqlalchemy_url(url: str) -> str:
    """Accept the common ``postgres://`` spelling and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def load_config(instance_path: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config from the environment, then apply ``overrides``."""
    env = os.environ.get("MICROCRED_ENV", "development").strip().lower()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'microcred.db'}"
    config: dict[str, Any] = {
        "MICROCRED_ENV": env,
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", ""),
        "STORAGE_BACKEND": os.environ.get("STORAGE_BACKEND", "local"),
        "STORAGE_PATH": os.environ.get("STORAGE_PATH", str(instance_path / "storage")),
        "S3_BUCKET": os.environ.get("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "UPLOAD_STAGING_PATH": os.environ.get(
            "UPLOAD_STAGING_PATH", str(instance_path / "upload-staging")
        ),
        "FILE_MAX_BYTES": _env_int("FILE_MAX_BYTES", 1024 * 1024 * 1024),
        "VIRUS_SCAN_HOOK": os.environ.get("VIRUS_SCAN_HOOK", ""),
        "EVIDENCE_RETENTION_DAYS": _env_int("EVIDENCE_RETENTION_DAYS", 365 * 3),
        "REVIEW_DUE_BUSINESS_DAYS": _env_int("REVIEW_DUE_BUSINESS_DAYS", 10),
        "REVIEW_REMINDER_PERCENTS": [50, 90],
        "CALIBRATION_MIN_EXACT": 0.80,
        "CALIBRATION_MIN_WEIGHTED_KAPPA": 0.70,
        "CALIBRATION_VALID_MONTHS": _env_int("CALIBRATION_VALID_MONTHS", 24),
        # One check submission per this many primary reviews; 0 turns checks off.
        "REVIEW_CHECK_RATE": _env_int("REVIEW_CHECK_RATE", 20, minimum=0),
        # Double-scored attempts per reviewer pair in the rolling agreement figure.
        "RELIABILITY_PAIR_WINDOW": _env_int(
            "RELIABILITY_PAIR_WINDOW",
            20,
            minimum=5,
            why=" (a reviewer pair is judged once it has 5 attempts together)",
        ),
        "BADGE_KEY_SECRET": os.environ.get("BADGE_KEY_SECRET", ""),
        "ISSUER_NAME": os.environ.get("ISSUER_NAME", "Inclusive Practice Micro-credential Program"),
        "ISSUER_URL": os.environ.get("ISSUER_URL", ""),
        "ISSUER_EMAIL": os.environ.get("ISSUER_EMAIL", "badges@example.org"),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _env_int("MAIL_PORT", 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS", False),
        "MAIL_SENDER": os.environ.get("MAIL_SENDER", "Microcred <no-reply@localhost>"),
        "MAIL_OUTBOX_PATH": os.environ.get("MAIL_OUTBOX_PATH", str(instance_path / "mail-outbox")),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Off only for load benchmarks on a private machine; never in production.
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        # "test" hashes passwords at argon2id's lowest cost: for the test suite only.
        "PASSWORD_HASH_PROFILE": os.environ.get("PASSWORD_HASH_PROFILE", "default"),
        # Each worker keeps a helper process that lays out certificate PDFs (Linux).
        "PDF_RENDER_HELPER": _env_bool("PDF_RENDER_HELPER", True),
        "MAX_CONTENT_LENGTH": _env_int("MAX_REQUEST_BYTES", 16 * 1024 * 1024),
        "JOB_RETRY_INTERVALS": [10, 60, 300],
        "OUTBOX_RELAY_SECONDS": _env_int("OUTBOX_RELAY_SECONDS", 10),
        "PASSWORD_RESET_MAX_AGE": _env_int("PASSWORD_RESET_MAX_AGE", 3600),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env == "production",
        "REMEMBER_COOKIE_SECURE": env == "production",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "DOMAINS": ["accounts", "rubrics", "credentials", "evidence", "reviews", "badges"],
        # flask-smorest / OpenAPI
        "API_TITLE": "Microcred API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/static/swagger-ui/",
    }
    if overrides:
        config.update(overrides)
    if "DATABASE_URL" in (overrides or {}):
        config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(str(config["DATABASE_URL"]))
    return config


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run production with development secrets or missing settings."""
    if config.get("MICROCRED_ENV") != "production":
        return
    problems = []
    if config.get("SECRET_KEY") in (None, "", DEV_SECRET_KEY):
        problems.append("SECRET_KEY is the development default; set a long random value")
    elif len(str(config["SECRET_KEY"])) < 32:
        problems.append("SECRET_KEY is shorter than 32 characters")
    for name in PRODUCTION_REQUIRED:
        if name == "SECRET_KEY":
            continue
        if not os.environ.get(name) and not config.get(name):
            problems.append(f"{name} is not set")
        elif name == "DATABASE_URL" and str(config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
            problems.append("DATABASE_URL points at SQLite; production needs PostgreSQL")
    if not config.get("RATELIMIT_ENABLED", True):
        problems.append("RATELIMIT_ENABLED is off; sign-in and verification need their limits")
    if config.get("PASSWORD_HASH_PROFILE", "default") != "default":
        problems.append("PASSWORD_HASH_PROFILE is not the default; weak hashes are for tests")
    if problems:
        raise ConfigError("Refusing to start in production mode: " + "; ".join(problems) + ".")
