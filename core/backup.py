"""``microcred backup DEST`` and ``microcred restore SRC``.

A backup is a folder: ``db/<table>.jsonl`` (every row of every table, in
foreign-key order), ``blobs/<sha256>`` (every evidence file and certificate PDF
the rows refer to, from local or S3 storage) and ``manifest.json`` with the
SHA-256 of each of those files, the schema revision and the row counts.

The dump is logical (rows through SQLAlchemy), not ``pg_dump`` or a SQLite file
copy: one format for both databases, no server-version match between the dump
tool and the server, and a SQLite instance can be restored into PostgreSQL. It
is consistent: SQLite is first copied with its online backup API, PostgreSQL
is read in one REPEATABLE READ transaction.

The manifest is signed (HMAC-SHA256 with a key derived from SECRET_KEY), so a
backup whose files and manifest were both edited is refused, as is one made by
an instance with another SECRET_KEY (whose signing keys it could not decrypt).

Restore checks the whole manifest before it writes anything, refuses a target
that holds data (unless ``force``), loads the rows in one transaction, stores
the files, rebuilds derived data (the domains' restore hooks) and then runs
``microcred doctor``, which verifies every badge and every file's hash.
Keep SECRET_KEY and BADGE_KEY_SECRET apart from the backup: the issuers'
signing keys in it are encrypted with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import JSON, Connection, Table, create_engine, func, select, text

from core.db_types import utcnow
from core.doctor import DoctorReport, run_doctor
from core.extensions import db
from core.registry import restore_hooks, stored_file_columns
from core.storage import CHUNK_SIZE, StagedFile, get_storage, hash_file, stage_stream

FORMAT = "microcred-backup/1"
BATCH = 500


class BackupError(Exception):
    """The backup cannot be made or restored; the message says why."""


@dataclass
class BackupSummary:
    path: Path
    rows: dict[str, int]
    files: int
    bytes: int


@dataclass
class RestoreSummary:
    rows: dict[str, int]
    files: int
    notes: list[str] = field(default_factory=list)
    doctor: DoctorReport | None = None


# --- Values -----------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$b64" in value:
            return base64.b64decode(value["$b64"])
    return value


def _row_to_json(table: Table, row: dict[str, Any]) -> str:
    encoded = {
        name: value if isinstance(table.c[name].type, JSON) else _encode(value)
        for name, value in row.items()
    }
    return json.dumps(encoded, ensure_ascii=False, separators=(",", ":"))


def _row_from_json(table: Table, line: str) -> dict[str, Any]:
    raw = json.loads(line)
    return {
        name: value if isinstance(table.c[name].type, JSON) else _decode(value)
        for name, value in raw.items()
    }


def _head_revision(app: Flask) -> str | None:
    config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def _current_revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table: an empty database
        connection.rollback()
        return None


# --- Backup -----------------------------------------------------------------------------------


@contextmanager
def _snapshot() -> Iterator[Connection]:
    """A connection that sees one consistent state of the database."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / "snapshot.db"
            source = engine.raw_connection()
            try:
                target = sqlite3.connect(copy)
                source.driver_connection.backup(target)  # type: ignore[union-attr]
                target.close()
            finally:
                source.close()
            snapshot_engine = create_engine(f"sqlite:///{copy}")
            try:
                with snapshot_engine.connect() as connection:
                    yield connection
            finally:
                snapshot_engine.dispose()
        return
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection,
        connection.begin(),
    ):
        yield connection


def backup(app: Flask, destination: Path) -> BackupSummary:
    """Write a backup of the database and its files to ``destination`` (a new folder)."""
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty; give a new folder for the backup.")
    (destination / "db").mkdir(parents=True, exist_ok=True)
    (destination / "blobs").mkdir(exist_ok=True)
    key_columns: dict[str, list[str]] = {}
    for entry in stored_file_columns(app):
        key_columns.setdefault(entry.table, []).append(entry.column)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    keys: set[str] = set()
    with _snapshot() as connection:
        revision = _current_revision(connection)
        for table in db.metadata.sorted_tables:
            path = destination / "db" / f"{table.name}.jsonl"
            count = 0
            with path.open("w", encoding="utf-8") as out:
                result = connection.execute(
                    table.select().order_by(*table.primary_key.columns)
                ).mappings()
                for row in result:
                    out.write(_row_to_json(table, dict(row)) + "\n")
                    count += 1
                    keys.update(row[c] for c in key_columns.get(table.name, []) if row[c])
            rows[table.name] = count
            files[f"db/{table.name}.jsonl"] = hash_file(path)
    storage = get_storage()
    total = 0
    for key in sorted(keys):
        target = destination / "blobs" / key
        if not storage.exists(key):
            raise BackupError(f"file {key} is referenced by the database but missing in storage")
        with storage.open(key) as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK_SIZE)
        digest = hash_file(target)
        if digest != key:
            raise BackupError(f"file {key} in storage is corrupted (its SHA-256 is {digest})")
        files[f"blobs/{key}"] = digest
        total += target.stat().st_size
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "alembic_revision": revision,
        "database": db.engine.dialect.name,
        "public_base_url": app.config.get("PUBLIC_BASE_URL") or "",
        "tables": [table.name for table in db.metadata.sorted_tables],
        "rows": rows,
        "files": files,
    }
    manifest["signature"] = {
        "algorithm": SIGNATURE_ALGORITHM,
        "value": _manifest_signature(app, manifest),
    }
    (destination / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return BackupSummary(destination, rows, len(keys), total)


SIGNATURE_ALGORITHM = "HMAC-SHA256"


def _manifest_signature(app: Flask, manifest: dict[str, Any]) -> str:
    """HMAC-SHA256 of the manifest (without its signature, as canonical JSON), keyed
    by a key derived from SECRET_KEY for this purpose only."""
    key = hmac.new(
        str(app.config["SECRET_KEY"]).encode(), b"microcred backup manifest", hashlib.sha256
    ).digest()
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


# --- Restore ----------------------------------------------------------------------------------


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def read_signed_manifest(app: Flask, source: Path) -> dict[str, Any]:
    """The manifest, once its signature holds and its entries have the right shape."""
    source = Path(source)
    try:
        manifest = json.loads((source / "manifest.json").read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise BackupError(f"{source} has no readable manifest.json ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"not a {FORMAT} backup (format {found!r})")
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise BackupError(
            "the manifest is not signed; restore only backups `microcred backup` made"
        )
    value = signature.get("value")
    if not (
        isinstance(value, str)
        and _SHA256_HEX.fullmatch(value)
        and hmac.compare_digest(value, _manifest_signature(app, manifest))
    ):
        raise BackupError(
            "the manifest's signature does not match: the backup was changed after it was "
            "made, or made by an instance with another SECRET_KEY (restore with the "
            "SECRET_KEY and BADGE_KEY_SECRET of the instance that made it)"
        )
    files, tables = manifest.get("files"), manifest.get("tables")
    if not (
        isinstance(files, dict)
        and all(isinstance(n, str) and isinstance(h, str) for n, h in files.items())
        and isinstance(tables, list)
        and all(isinstance(name, str) for name in tables)
        and isinstance(manifest.get("alembic_revision"), str | None)
        and isinstance(manifest.get("public_base_url", ""), str)
    ):
        raise BackupError("the manifest is signed but malformed; it was not made by this service")
    return manifest


@contextmanager
def verified_copy(
    app: Flask, source: Path
) -> Iterator[tuple[dict[str, Any], dict[str, StagedFile]]]:
    """The signed manifest and a private copy of each file it lists (staged as an
    upload is: hashed while copied, on the storage's disk), all matching the manifest,
    so that nothing read afterwards can have been changed in ``source`` meanwhile.
    Copies not stored by then are removed on leaving."""
    source = Path(source)
    manifest = read_signed_manifest(app, source)
    copies: dict[str, StagedFile] = {}
    try:
        problems = []
        listed: dict[str, str] = manifest["files"]
        for name, expected in sorted(listed.items()):
            path = source / name
            if Path(name).is_absolute() or ".." in Path(name).parts or not path.is_file():
                problems.append(f"{name} is missing")
                continue
            with path.open("rb") as stream:
                copies[name] = staged = stage_stream(stream, limit=sys.maxsize)
            if staged.sha256 != expected:
                problems.append(f"{name} does not match its SHA-256 in the manifest (altered)")
            elif name.startswith("blobs/") and Path(name).name != expected:
                problems.append(f"{name} is not named by its SHA-256")
        present = {str(p.relative_to(source)) for p in source.rglob("*") if p.is_file()}
        present.discard("manifest.json")
        problems += [f"{name} is not in the manifest" for name in sorted(present - set(listed))]
        expected_tables = {f"db/{name}.jsonl" for name in manifest["tables"]}
        problems += [f"{name} is missing" for name in sorted(expected_tables - set(listed))]
        if problems:
            raise BackupError("the backup fails its manifest check: " + "; ".join(problems))
        yield manifest, copies
    finally:
        for staged in copies.values():
            staged.path.unlink(missing_ok=True)


def _has_data(connection: Connection) -> list[str]:
    found = []
    for table in db.metadata.sorted_tables:
        if connection.execute(select(func.count()).select_from(table)).scalar():
            found.append(table.name)
    return found


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL: the next id after the restored ones."""
    for table in db.metadata.sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1:
            continue
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": columns[0].name}
        ).scalar()
        if sequence:
            connection.execute(
                text(  # names from our own metadata, not from input
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{columns[0].name}") '  # noqa: S608
                    f'FROM "{table.name}"), 0) + 1, false)'
                ),
                {"s": sequence},
            )


def restore(app: Flask, source: Path, *, force: bool = False) -> RestoreSummary:
    """Restore ``source`` into this (empty) instance, then check it with the doctor.

    Everything is read from a verified private copy (see :func:`verified_copy`)."""
    with verified_copy(app, source) as (manifest, copies):
        return _restore(app, manifest, copies, force=force)


def _restore(
    app: Flask, manifest: dict[str, Any], copies: dict[str, StagedFile], *, force: bool
) -> RestoreSummary:
    head = _head_revision(app)
    if manifest.get("alembic_revision") != head:
        raise BackupError(
            f"the backup has schema revision {manifest.get('alembic_revision')}, this service "
            f"{head}; restore with the version that made it, then upgrade"
        )
    known = {table.name for table in db.metadata.sorted_tables}
    if unknown := set(manifest["tables"]) - known:
        raise BackupError(f"the backup has tables this service does not: {sorted(unknown)}")
    summary = RestoreSummary(rows={}, files=0)
    base_url = app.config.get("PUBLIC_BASE_URL") or ""
    if manifest.get("public_base_url", "") != base_url:
        summary.notes.append(
            f"PUBLIC_BASE_URL is {base_url!r}, the backup's was "
            f"{manifest.get('public_base_url')!r}: badges verify only at their own address"
        )
    with db.engine.connect() as connection:
        revision = _current_revision(connection)
    if revision is None:
        upgrade()  # an empty database gets the schema first
    elif revision != head:
        raise BackupError("the target database is not at the current schema; upgrade it first")
    with db.engine.connect() as connection:
        if (busy := _has_data(connection)) and not force:
            raise BackupError(
                f"the target instance already holds data (in {', '.join(busy[:5])}…); "
                "restore into an empty one, or pass --force to replace everything"
            )
    storage = get_storage()
    for name, staged in copies.items():
        if name.startswith("blobs/"):
            storage.put(staged)  # verified: its SHA-256 is its name
            summary.files += 1
    with db.engine.begin() as connection:
        if force:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        for table in db.metadata.sorted_tables:
            if table.name not in manifest["tables"]:
                continue
            count = 0
            with copies[f"db/{table.name}.jsonl"].path.open(encoding="utf-8") as lines:
                batch = []
                for line in lines:
                    batch.append(_row_from_json(table, line))
                    if len(batch) >= BATCH:
                        connection.execute(table.insert(), batch)
                        count += len(batch)
                        batch = []
                if batch:
                    connection.execute(table.insert(), batch)
                    count += len(batch)
            summary.rows[table.name] = count
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection)
    for hook in restore_hooks(app):
        summary.notes += hook()
    db.session.commit()
    summary.doctor = run_doctor(app)
    return summary
