"""Operations hooks for credentials: rebuild the SQLite full-text index after a restore
(the FTS5 table is derived from ``micro_credentials.search_text``, so backups skip it)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text

from core.extensions import db
from core.registry import register_restore_hook


def rebuild_search_index() -> list[str]:
    if db.engine.dialect.name != "sqlite":
        return []  # PostgreSQL indexes search_text itself
    db.session.execute(text("DELETE FROM credential_search"))
    db.session.execute(
        text(
            "INSERT INTO credential_search(rowid, search_text) "
            "SELECT id, search_text FROM micro_credentials WHERE search_text IS NOT NULL"
        )
    )
    db.session.commit()
    return ["rebuilt the catalog's full-text search index"]


def register(app: Flask) -> None:
    register_restore_hook(app, rebuild_search_index)
