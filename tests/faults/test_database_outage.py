"""PostgreSQL dropping its connections mid-request (what a restart does): the request
answers a clean 503, nothing is half-written, and the next request succeeds
(``pool_pre_ping`` replaces the dead connection). The app talks to the server
through a TCP proxy the test can cut; the machine's server is never restarted.
PostgreSQL only: an embedded SQLite file has no connection to lose."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import event, select

from core.app import create_app
from core.audit import verify_chain
from core.extensions import db
from core.models import AuditEvent
from reviews.models import ReviewAssignment
from tests.conftest import free_port, make_config
from tests.faults.helpers import doctor_problems
from tests.reviews.workflow import (
    all_levels,
    complete_submission,
    drain,
    reviewer,
    reviewer_client,
)

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs a database server connection to cut (CI runs it on PostgreSQL)",
)


class CuttableProxy:
    """Forwards TCP to the database server; ``cut()`` drops every open connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.running = True
        self.down = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:  # the server is restarting: connection refused
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets = []

    def close(self) -> None:
        self.running = False
        self.listener.close()
        self.cut()


@pytest.fixture
def proxied(seeded: Flask, database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """A second app process-alike on the same database, reaching it through the proxy."""
    parts = urlsplit(database_url)
    proxy = CuttableProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    url = parts._replace(netloc=f"{netloc}:{proxy.port}").geturl()
    app = create_app(make_config(tmp_path / "proxied", url, redis_url))
    try:
        yield app, proxy
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        proxy.close()


def test_database_connection_lost_mid_request(seeded: Flask, proxied: Any) -> None:
    app, proxy = proxied
    reviewer(seeded, "p1@example.org", "Brookside")
    reviewer(seeded, "p2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    with seeded.app_context():
        rows = db.session.scalars(
            select(ReviewAssignment).where(ReviewAssignment.submission_id == submission_id)
        ).all()
        pairs = [(row.id, row.reviewer.email) for row in rows]
    levels = all_levels(seeded, submission_id, "Proficient")
    clients = [reviewer_client(app, email) for _id, email in pairs]

    def cut_at_the_audit_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            proxy.cut()  # the scores are already updated in this transaction

    (client, headers), (assignment_id, _email) = clients[0], pairs[0]
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", cut_at_the_audit_insert)
    try:
        response = client.post(
            f"/api/v1/reviews/assignments/{assignment_id}/submit",
            json={"levels": levels},
            headers=headers,
        )
    finally:
        event.remove(engine, "before_cursor_execute", cut_at_the_audit_insert)
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "database_unavailable"
    assert "nothing was saved" in body["message"] and "Traceback" not in response.get_data(
        as_text=True
    )
    assert response.headers["Retry-After"]
    with seeded.app_context():
        row = db.session.get(ReviewAssignment, assignment_id)
        assert (row.status, row.levels) == ("assigned", {})  # nothing half-written
        assert not db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "review.submitted")
        ).all()
        assert verify_chain().ok

    for (client, headers), (assignment_id, _email) in zip(clients, pairs, strict=True):
        retry = client.post(
            f"/api/v1/reviews/assignments/{assignment_id}/submit",
            json={"levels": levels},
            headers=headers,
        )
        assert retry.status_code == 200, retry.get_json()  # a fresh connection, pre-pinged
    drain(seeded)
    with seeded.app_context():
        from evidence.models import Submission

        assert db.session.get(Submission, submission_id).status == "passed"
    assert doctor_problems(seeded) == {}


def test_database_unreachable_then_back(seeded: Flask, proxied: Any) -> None:
    app, proxy = proxied
    client = app.test_client()
    assert client.get("/catalog").status_code == 200
    proxy.down = True  # the server restarts: connections dropped, new ones refused
    proxy.cut()
    down = client.get("/api/v1/catalog", headers={"Accept": "application/json"})
    assert down.status_code == 503
    assert down.get_json()["code"] == "database_unavailable"
    page = client.get("/catalog")
    assert page.status_code == 503
    assert "temporarily unavailable" in page.get_data(as_text=True)
    proxy.down = False  # back
    assert client.get("/api/v1/catalog").status_code == 200
    assert client.get("/catalog").status_code == 200
