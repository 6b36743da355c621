"""The audit log is hash-chained: editing, deleting or reordering is detected."""

from __future__ import annotations

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from core import audit
from core.cli import cli
from core.extensions import db
from core.models import AuditEvent


def _write_events(app: Flask, count: int) -> None:
    with app.app_context():
        for n in range(count):
            audit.record("badge.issued", "badge", n, actor_id=7, after={"hours": n})
        db.session.commit()


def _run_verify(app: Flask) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"], obj=_script_info(app))
    return result.exit_code, result.output


def _script_info(app: Flask):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_intact_chain_verifies(app: Flask) -> None:
    _write_events(app, 5)
    with app.app_context():
        report = audit.verify_chain()
    assert report.ok and report.checked == 5
    code, output = _run_verify(app)
    assert code == 0
    assert "5 events checked" in output


def test_edited_row_is_detected(app: Flask) -> None:
    _write_events(app, 5)
    with app.app_context():
        db.session.execute(text("UPDATE audit_events SET entity_id = '999' WHERE seq = 3"))
        db.session.commit()
        report = audit.verify_chain()
    assert not report.ok
    assert report.problems == ["event 3: contents do not match its hash (edited)"]
    code, output = _run_verify(app)
    assert code == 1
    assert "event 3" in output


def test_deleted_rows_are_detected(app: Flask) -> None:
    _write_events(app, 5)
    with app.app_context():
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 2"))
        db.session.commit()
        assert "events 2..2 are missing" in audit.verify_chain().problems
        db.session.execute(text("DELETE FROM audit_events WHERE seq = 5"))
        db.session.commit()
        assert any("head" in p for p in audit.verify_chain().problems)


def test_rewritten_row_with_recomputed_hash_breaks_the_next_link(app: Flask) -> None:
    """An attacker who recomputes the edited row's own hash still breaks the link
    to the following row."""
    _write_events(app, 3)
    with app.app_context():
        event = db.session.query(AuditEvent).filter_by(seq=2).one()
        event.after = {"hours": 40}
        event.hash = audit._event_digest(event.prev_hash, audit._fields(event))
        db.session.commit()
        assert audit.verify_chain().problems == ["event 3: previous-hash link is broken"]


def test_events_commit_with_the_change_they_describe(app: Flask) -> None:
    with app.app_context():
        audit.record("user.created", "user", 1)
        db.session.rollback()
        audit.record("user.created", "user", 2)
        db.session.commit()
        events = db.session.query(AuditEvent).all()
        assert [(e.seq, e.entity_id) for e in events] == [(1, "2")]
        assert audit.verify_chain().ok
