"""Revocation through a W3C Bitstring Status List, signed and published by the issuer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select

from badges import dataintegrity, issuers, statuslist
from badges.models import Badge, Issuer, StatusList
from core.db_types import utcnow
from core.extensions import db


def list_url(status_list: StatusList) -> str:
    return f"{issuers.public_base_url()}/status/{status_list.slug}"


def current_list(issuer: Issuer) -> StatusList:
    """The list new badges get an index in (a fresh one when the last is nearly full)."""
    found = db.session.scalar(
        select(StatusList)
        .where(StatusList.issuer_id == issuer.id)
        .order_by(StatusList.id.desc())
        .limit(1)
    )
    if found is not None and _used_count(found) < found.size * 0.9:
        return found
    number = (found.id if found else 0) + 1
    created = StatusList(
        slug=f"{issuer.slug}-{number}", issuer=issuer, encoded_list=statuslist.Bitstring().encode()
    )
    db.session.add(created)
    db.session.flush()
    publish(created)
    return created


def _used_count(status_list: StatusList) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Badge).where(Badge.status_list_id == status_list.id)
    )


def _used(status_list: StatusList) -> set[int]:
    return set(
        db.session.scalars(select(Badge.status_index).where(Badge.status_list_id == status_list.id))
    )


class _TakenIndexes:
    """Whether a list's index is taken, asked of the database one index at a time."""

    def __init__(self, status_list: StatusList) -> None:
        self._list_id = status_list.id

    def __contains__(self, index: object) -> bool:
        taken = select(Badge.id).where(
            Badge.status_list_id == self._list_id, Badge.status_index == index
        )
        return bool(db.session.scalar(select(taken.exists())))


def allocate(status_list: StatusList) -> int:
    """A random unused index (random order keeps neighbours from being guessed).

    A list is at most 90% full (see :func:`current_list`), so a few random probes
    find a free index without reading the list's every index; the unique
    constraint on (list, index) settles a race with a concurrent issuance.
    """
    return statuslist.random_free_index(
        _TakenIndexes(status_list), status_list.size, all_used=lambda: _used(status_list)
    )


def entry(status_list: StatusList, index: int) -> dict[str, Any]:
    return statuslist.status_entry(list_url(status_list), index, status_list.purpose)


def set_revoked(status_list: StatusList, index: int) -> None:
    bits = statuslist.Bitstring.decode(status_list.encoded_list)
    bits.set(index)
    status_list.encoded_list = bits.encode()
    publish(status_list)


def publish(status_list: StatusList) -> None:
    """Re-sign the list credential; verification sees the change at once."""
    issuer = status_list.issuer
    key = issuers.active_key(issuer) or issuers.add_key(issuer)
    unsigned = statuslist.status_list_credential(
        list_url(status_list),
        issuers.did_for(issuer),
        status_list.encoded_list,
        utcnow(),
        purpose=status_list.purpose,
    )
    signed = dataintegrity.sign(unsigned, issuers.secret_key(key), issuers.key_id(key), utcnow())
    status_list.credential_json = json.dumps(signed, separators=(",", ":"), ensure_ascii=False)
    status_list.version += 1
    status_list.updated_at = utcnow()
    db.session.flush()


def etag(status_list: StatusList) -> str:
    return hashlib.sha256((status_list.credential_json or "").encode()).hexdigest()[:32]


def get_list(slug: str) -> StatusList | None:
    return db.session.scalar(select(StatusList).where(StatusList.slug == slug))


def check(credential_status: Any) -> statuslist.StatusCheck | None:
    """Check an entry against our own published list (never fetches another host's)."""
    if not isinstance(credential_status, dict):
        return None
    url = str(credential_status.get("statusListCredential", ""))
    prefix = f"{issuers.public_base_url()}/status/"
    if not url.startswith(prefix):
        return None
    found = get_list(url[len(prefix) :])
    if found is None or not found.credential_json:
        return None
    return statuslist.check_status(credential_status, json.loads(found.credential_json))
