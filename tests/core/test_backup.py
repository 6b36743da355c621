"""``microcred backup`` / ``microcred restore``: a backup restored into an empty
instance verifies every badge and file; a tampered backup is refused untouched."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import create_engine, select, text

from badges.models import Badge
from badges.verification import verify_credential, verify_pdf
from core.app import create_app
from core.cli import cli
from core.config import sqlalchemy_url
from core.extensions import db
from core.storage import get_storage
from evidence.models import EvidenceItem, StoredFile
from tests.badges.test_issuance import _passed
from tests.conftest import make_config
from tests.reviews.workflow import TEACHER_NAME


def run_cli(app: Flask, *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


@pytest.fixture
def empty_instance(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Flask]:
    """A second instance: its own empty database (file or schema) and storage."""
    admin = None
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        base = database_url.split("?", 1)[0]
        schema = f"restore_{uuid.uuid4().hex[:10]}"
        admin = create_engine(sqlalchemy_url(base), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}?options=-csearch_path%3D{schema}"
    app = create_app(make_config(tmp_path / "restored", url, redis_url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if admin is not None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _holdings(app: Flask) -> dict[str, Any]:
    with app.app_context():
        return {
            "badges": sorted(db.session.scalars(select(Badge.id))),
            "files": sorted(db.session.scalars(select(StoredFile.sha256))),
            "items": db.session.query(EvidenceItem).count(),
        }


@pytest.fixture
def backup(seeded: Flask, tmp_path: Path) -> Path:
    """A backup of an instance holding one issued badge, made by `microcred backup`."""
    _passed(seeded)
    made = run_cli(seeded, "backup", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    return tmp_path / "backup"


def test_backup_restores_into_an_empty_instance_and_every_badge_verifies(
    seeded: Flask, empty_instance: Flask, tmp_path: Path
) -> None:
    _passed(seeded)
    original = _holdings(seeded)
    assert len(original["badges"]) == 1 and original["files"]

    made = run_cli(seeded, "backup", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    with seeded.app_context():
        pdf = db.session.scalar(select(Badge.pdf_sha256))
    assert f"blobs/{pdf}" in manifest["files"]
    assert all(f"blobs/{sha}" in manifest["files"] for sha in original["files"])

    restored = run_cli(empty_instance, "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    assert "checks passed" in restored.output
    assert _holdings(empty_instance) == original
    with empty_instance.app_context(), empty_instance.test_request_context():
        for badge in db.session.scalars(select(Badge)):
            assert verify_credential(json.loads(badge.credential_json)).valid
            with get_storage().open(badge.pdf_sha256) as handle:
                report = verify_pdf(handle.read())
            assert report.valid, report.as_dict()

    again = run_cli(empty_instance, "restore", str(tmp_path / "backup"))
    assert again.exit_code != 0
    assert "already holds data" in again.output


@pytest.mark.parametrize("target", ["db/badges.jsonl", "blob"])
def test_a_tampered_backup_is_refused_before_anything_is_written(
    backup: Path, empty_instance: Flask, target: str
) -> None:
    if target == "blob":
        target = next(
            name
            for name in json.loads((backup / "manifest.json").read_text())["files"]
            if name.startswith("blobs/")
        )
    path = backup / target
    path.write_bytes(path.read_bytes().replace(b"a", b"b", 1))

    refused = run_cli(empty_instance, "restore", str(backup))
    assert refused.exit_code != 0
    assert f"{target} does not match its SHA-256" in refused.output
    with empty_instance.app_context():
        tables = db.inspect(db.engine).get_table_names()
    assert "badges" not in tables  # not even the schema was created
    assert not Path(empty_instance.config["STORAGE_PATH"]).exists()


def _rehash(backup: Path, name: str) -> None:
    """What someone able to write the backup would do: fix the manifest's hash."""
    manifest_path = backup / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name] = hashlib.sha256((backup / name).read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2))


def test_a_backup_edited_with_its_manifest_or_from_another_secret_is_refused(
    seeded: Flask, empty_instance: Flask, backup: Path
) -> None:
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["signature"]["algorithm"] == "HMAC-SHA256"

    # The same backup restored with another SECRET_KEY: refused, nothing written.
    empty_instance.config["SECRET_KEY"] = "another-secret-key-" + "x" * 20
    refused = run_cli(empty_instance, "restore", str(backup))
    assert refused.exit_code != 0 and "another SECRET_KEY" in refused.output
    empty_instance.config["SECRET_KEY"] = seeded.config["SECRET_KEY"]

    # A badge's name changed and the manifest's hash fixed to match: refused.
    table = backup / "db" / "badges.jsonl"
    assert TEACHER_NAME in table.read_text()
    table.write_text(table.read_text().replace(TEACHER_NAME, "Mallory Forger"))
    _rehash(backup, "db/badges.jsonl")
    refused = run_cli(empty_instance, "restore", str(backup))
    assert refused.exit_code != 0 and "signature does not match" in refused.output

    # Without its signature: refused too.
    manifest = json.loads((backup / "manifest.json").read_text())
    del manifest["signature"]
    (backup / "manifest.json").write_text(json.dumps(manifest))
    refused = run_cli(empty_instance, "restore", str(backup))
    assert refused.exit_code != 0 and "not signed" in refused.output
    with empty_instance.app_context():
        assert "badges" not in db.inspect(db.engine).get_table_names()


def test_hostile_manifests_are_refused_with_a_reason_not_a_traceback(
    seeded: Flask, empty_instance: Flask, backup: Path
) -> None:
    from core import backup as backup_module

    good = json.loads((backup / "manifest.json").read_text())

    def signed(manifest: dict[str, Any]) -> dict[str, Any]:
        # what only someone holding SECRET_KEY could write
        value = backup_module._manifest_signature(seeded, manifest)
        return {**manifest, "signature": {"algorithm": "HMAC-SHA256", "value": value}}

    cases = [
        ({**good, "signature": {"algorithm": "HMAC-SHA256", "value": "é" * 64}}, "signature"),
        ({**good, "signature": {"algorithm": "HMAC-SHA256", "value": ["a"]}}, "signature"),
        ({**good, "public_base_url": "\ud800"}, "signature"),
        (signed({**good, "files": list(good["files"])}), "malformed"),
        (signed({**good, "tables": 7}), "malformed"),
        (signed({k: v for k, v in good.items() if k != "tables"}), "malformed"),
    ]
    for manifest, reason in cases:
        (backup / "manifest.json").write_text(json.dumps(manifest))
        refused = run_cli(empty_instance, "restore", str(backup))
        assert refused.exit_code != 0, manifest
        assert isinstance(refused.exception, SystemExit), refused.exception  # a clear error
        assert reason in refused.output, refused.output
    (backup / "manifest.json").write_text("[" * 100_000)
    refused = run_cli(empty_instance, "restore", str(backup))
    assert refused.exit_code != 0 and "no readable manifest.json" in refused.output
    with empty_instance.app_context():
        assert "badges" not in db.inspect(db.engine).get_table_names()


def test_restore_reads_only_what_it_verified(
    seeded: Flask, empty_instance: Flask, backup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file swapped in the backup after the check (someone racing the restore)
    changes nothing: the restore reads its own verified copy."""
    from core import backup as backup_module

    original = _holdings(seeded)
    real_restore = backup_module._restore

    def swap_then_restore(*args: Any, **kwargs: Any) -> Any:
        table = backup / "db" / "badges.jsonl"
        table.write_text(table.read_text().replace(TEACHER_NAME, "Mallory Forger"))
        for blob in (backup / "blobs").iterdir():
            blob.write_bytes(b"swapped")
        return real_restore(*args, **kwargs)

    monkeypatch.setattr(backup_module, "_restore", swap_then_restore)
    restored = run_cli(empty_instance, "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert _holdings(empty_instance) == original
    with empty_instance.app_context():
        credential = db.session.scalar(select(Badge.credential_json))
        assert TEACHER_NAME in credential and "Mallory" not in credential
        for sha in original["files"]:
            with get_storage().open(sha) as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == sha
