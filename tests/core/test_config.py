"""Configuration: embedded defaults, and production refusing unsafe settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.app import create_app
from core.config import ConfigError, sqlalchemy_url


def test_embedded_defaults_live_in_the_instance_folder(tmp_path: Path, monkeypatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "MICROCRED_ENV"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'inst' / 'microcred.db'}"
    )
    assert app.config["REDIS_URL"].startswith(f"unix://{tmp_path / 'inst' / 'redis'}")
    assert (tmp_path / "inst").is_dir()


def test_production_refuses_dev_secret_and_names_what_is_missing(
    tmp_path: Path, monkeypatch
) -> None:
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "PUBLIC_BASE_URL",
        "MAIL_SERVER",
        "BADGE_KEY_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MICROCRED_ENV", "production")
    with pytest.raises(ConfigError) as error:
        create_app({"INSTANCE_PATH": str(tmp_path)})
    message = str(error.value)
    for expected in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "PUBLIC_BASE_URL",
        "MAIL_SERVER",
        "BADGE_KEY_SECRET",
    ):
        assert expected in message


def test_production_starts_when_configured(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MICROCRED_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 48)
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.internal/microcred")
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://badges.example.org")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("BADGE_KEY_SECRET", "k" * 48)
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    # Rate limits can be switched off for a load benchmark, never in production.
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        create_app({"INSTANCE_PATH": str(tmp_path)})
    monkeypatch.delenv("RATELIMIT_ENABLED")
    # The test suite's cheap password hashing, likewise.
    monkeypatch.setenv("PASSWORD_HASH_PROFILE", "test")
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_postgres_url_spellings() -> None:
    assert sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert sqlalchemy_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"


def test_review_checks_and_the_pair_window_come_from_the_environment(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("REVIEW_CHECK_RATE", "0")
    monkeypatch.setenv("RELIABILITY_PAIR_WINDOW", "40")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    assert app.config["REVIEW_CHECK_RATE"] == 0 and app.config["RELIABILITY_PAIR_WINDOW"] == 40
    with app.app_context():
        from reviews.reliability import pair_window
        from reviews.services import check_rate

        assert check_rate() == 0 and pair_window() == 40

    monkeypatch.setenv("RELIABILITY_PAIR_WINDOW", "3")
    with pytest.raises(ConfigError, match="RELIABILITY_PAIR_WINDOW must be at least 5"):
        create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
    monkeypatch.setenv("RELIABILITY_PAIR_WINDOW", "20")
    monkeypatch.setenv("REVIEW_CHECK_RATE", "every twenty")
    with pytest.raises(ConfigError, match="REVIEW_CHECK_RATE must be a whole number"):
        create_app({"INSTANCE_PATH": str(tmp_path / "inst")})
