"""Opening a database transaction before a savepoint, on SQLite too.

Python's sqlite3 driver starts a transaction only at the first INSERT, UPDATE
or DELETE. A SAVEPOINT issued before that (``session.begin_nested()``) becomes
the outermost transaction, and its RELEASE commits on the spot: a job killed
after it leaves that row committed without the rest of its work (found by the
fault-injection tests: a decision without its status change or audit event).
"""

from __future__ import annotations

from sqlalchemy import text

from core.extensions import db


def begin_write() -> None:
    """Start the transaction now; on SQLite also take the write lock, which
    serialises writers the way the row lock does on PostgreSQL."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE audit_head SET seq = seq WHERE 0"))
