"""Notifications: mail at once, or collected into a daily digest, as each user prefers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from accounts.models import User
from core.db_types import utcnow
from core.extensions import db
from core.mail import render_mail_template, send_mail
from reviews.models import Notification, NotificationPreference

MODES = ("immediate", "digest")


def mode_for(user: User) -> str:
    preference = db.session.get(NotificationPreference, user.id)
    return preference.mode if preference else "immediate"


def set_mode(user: User, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(mode)
    preference = db.session.get(NotificationPreference, user.id)
    if preference is None:
        db.session.add(NotificationPreference(user_id=user.id, mode=mode))
    else:
        preference.mode = mode
    db.session.flush()


def notify(user: User, template: str, **context: Any) -> None:
    """Mail ``templates/mail/<template>.txt`` now, or keep it for the digest."""
    if mode_for(user) == "immediate":
        send_mail(user.email, template, user=user, **context)
        return
    rendered = render_mail_template(template, user=user, **context).lstrip()
    subject, _, body = rendered.partition("\n")
    db.session.add(
        Notification(
            user_id=user.id, subject=subject.removeprefix("Subject:").strip(), body=body.strip()
        )
    )


def send_digests() -> int:
    """One mail per user with everything collected since the last digest."""
    pending = db.session.scalars(
        select(Notification)
        .where(Notification.sent_at.is_(None))
        .order_by(Notification.user_id, Notification.id)
    ).all()
    by_user: dict[int, list[Notification]] = {}
    for notification in pending:
        by_user.setdefault(notification.user_id, []).append(notification)
    for user_id, notifications in by_user.items():
        user = db.session.get(User, user_id)
        if user is None:
            continue
        send_mail(user.email, "digest", user=user, notifications=notifications)
        for notification in notifications:
            notification.sent_at = utcnow()
    db.session.flush()
    return len(by_user)
