"""Templated mail: rendered in the request, delivered by a job on the mail queue.

Delivery writes ``.eml`` files to the outbox folder (embedded default) or speaks
SMTP when ``MAIL_SERVER`` is set.
"""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, render_template, url_for
from flask_babel import force_locale

from core.db_types import utcnow
from core.i18n import mail_locale
from core.jobs import enqueue, job


def send_mail(to: str, template: str, **context: Any) -> None:
    """Render ``templates/mail/<template>.txt`` (first line ``Subject: …``) and
    queue it for delivery after the current transaction commits."""
    rendered = render_mail_template(template, **context)
    first, _, body = rendered.lstrip().partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError(f"mail template {template} must start with a Subject: line")
    enqueue(
        "core.mail.deliver_mail",
        to,
        first[len("Subject:") :].strip(),
        body.strip() + "\n",
        queue="mail",
    )


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link for mail and documents: PUBLIC_BASE_URL when configured
    (the address people use), never the internal host a request came through."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        with current_app.test_request_context("/"):
            return base.rstrip("/") + url_for(endpoint, **values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    with current_app.test_request_context("/", base_url="http://localhost"):
        return url_for(endpoint, _external=True, **values)


def render_mail_template(template: str, **context: Any) -> str:
    """Render ``templates/mail/<template>.txt``, also from a job (no request), in
    the language of the recipient (``context["user"]``, see ``core.i18n.mail_locale``)."""
    if has_request_context():
        with force_locale(mail_locale(context.get("user"))):
            return render_template(f"mail/{template}.txt", public_url=public_url, **context)
    with current_app.test_request_context("/"), force_locale(mail_locale(context.get("user"))):
        return render_template(f"mail/{template}.txt", public_url=public_url, **context)


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_SENDER"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="microcred.local")
    message.set_content(body)
    return message


@job
def deliver_mail(to: str, subject: str, body: str) -> str:
    """Deliver one message; raises on SMTP failure so RQ retries it."""
    config = current_app.config
    message = build_message(to, subject, body)
    if config["MAIL_SERVER"]:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=30) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
        return "smtp"
    outbox = Path(config["MAIL_OUTBOX_PATH"])
    outbox.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
    (outbox / name).write_bytes(bytes(message))
    return str(outbox / name)
