"""Mail goes to the outbox folder by default and over SMTP when configured."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from flask import Flask

from core.extensions import db
from core.jobs import relay_outbox
from core.mail import send_mail
from tests.conftest import free_port, make_user, run_jobs


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []

    def handle_message(self, message) -> None:
        self.received.append(message.as_bytes())


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def _send_welcome(app: Flask) -> None:
    user_id = make_user(app, "new.teacher@example.org", name="Nia <script>Teacher</script>")
    with app.app_context():
        from accounts.models import User

        send_mail("new.teacher@example.org", "welcome", user=db.session.get(User, user_id))
        db.session.commit()
        relay_outbox()
    assert run_jobs(app) == 1


def test_mail_is_written_to_the_outbox_folder(app: Flask) -> None:
    _send_welcome(app)
    [path] = Path(app.config["MAIL_OUTBOX_PATH"]).glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert message["To"] == "new.teacher@example.org"
    assert message["Subject"].startswith("Welcome to Microcred")


def test_mail_is_sent_over_smtp_when_configured(app: Flask, smtp_server: tuple[int, Inbox]) -> None:
    port, inbox = smtp_server
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    _send_welcome(app)
    [raw] = inbox.received
    message = message_from_bytes(raw, policy=default)
    assert message["To"] == "new.teacher@example.org"
    assert "Sign in:" in message.get_content()
    assert not list(Path(app.config["MAIL_OUTBOX_PATH"]).glob("*.eml"))
