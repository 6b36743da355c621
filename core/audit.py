"""Append-only, hash-chained audit events.

Each event's hash covers its own fields and the previous event's hash, so editing,
deleting or reordering any stored event breaks the chain from that point on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from core.db_types import utcnow
from core.extensions import db
from core.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64


def _event_digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": str(event.entity_id),
        "before": event.before,
        "after": event.after,
    }


def record(
    action: str,
    entity_type: str,
    entity_id: object,
    *,
    actor_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction (committed with the change)."""
    head = db.session.get(AuditHead, 1)
    if head is None:
        db.session.add(AuditHead(id=1, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()
    # Bump the head first: this takes the write lock (SQLite) or row lock
    # (PostgreSQL) before the previous hash is read, so writers never fork the chain.
    db.session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = db.session.execute(
        select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)
    ).scalar_one()
    event = AuditEvent(
        seq=head.seq,
        occurred_at=utcnow().replace(microsecond=0),
        actor_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        prev_hash=head.last_hash,
    )
    event.hash = _event_digest(head.last_hash, _fields(event))
    head.last_hash = event.hash
    db.session.add(event)
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(batch_size: int = 1000) -> ChainReport:
    """Walk the whole chain in order and report every break."""
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    while True:
        events = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(AuditEvent.seq)
            .limit(batch_size)
        ).all()
        if not events:
            break
        for event in events:
            checked += 1
            if event.seq != expected_seq:
                problems.append(f"events {expected_seq}..{event.seq - 1} are missing")
            if event.prev_hash != prev_hash:
                problems.append(f"event {event.seq}: previous-hash link is broken")
            if _event_digest(event.prev_hash, _fields(event)) != event.hash:
                problems.append(f"event {event.seq}: contents do not match its hash (edited)")
            prev_hash = event.hash
            expected_seq = event.seq + 1
    head = db.session.get(AuditHead, 1)
    if head is not None and (head.last_hash != prev_hash or head.seq != expected_seq - 1):
        problems.append("the chain head does not match the last event (events removed at the end)")
    return ChainReport(checked=checked, problems=problems)
