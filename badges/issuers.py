"""Issuers: did:web identifiers, profiles, signing keys (rotated, never deleted)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app, has_request_context, request
from sqlalchemy import select

from badges import multikey
from badges.keystore import seal, unseal
from badges.models import Issuer, IssuerKey
from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, NotFoundError
from core.extensions import db

DEFAULT_SLUG = "program"
DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"


def public_base_url() -> str:
    """The address printed in QR codes and credential ids (never changes for a badge)."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://localhost"


def did_for(issuer: Issuer) -> str:
    """``did:web:<host>:issuers:<slug>``, resolving to ``/issuers/<slug>/did.json``."""
    host = urlsplit(public_base_url()).netloc
    return f"did:web:{quote(host, safe='')}:issuers:{issuer.slug}"


def key_id(key: IssuerKey) -> str:
    return f"{did_for(key.issuer)}#{key.fragment}"


def profile(issuer: Issuer) -> dict[str, Any]:
    """The OB 3.0 issuer Profile embedded in every credential."""
    return {
        "id": did_for(issuer),
        "type": ["Profile"],
        "name": issuer.name,
        "url": issuer.url or f"{public_base_url()}/issuers/{issuer.slug}",
        "email": issuer.email,
    }


def get_issuer(slug: str) -> Issuer:
    issuer = db.session.scalar(select(Issuer).where(Issuer.slug == slug))
    if issuer is None:
        raise NotFoundError(f"No issuer {slug}.")
    return issuer


def ensure_default_issuer() -> Issuer:
    """The service's own issuer, from configuration, with a signing key."""
    issuer = db.session.scalar(select(Issuer).where(Issuer.slug == DEFAULT_SLUG))
    if issuer is None:
        config = current_app.config
        issuer = Issuer(
            slug=DEFAULT_SLUG,
            name=config["ISSUER_NAME"],
            url=config["ISSUER_URL"] or "",
            email=config["ISSUER_EMAIL"],
        )
        db.session.add(issuer)
        db.session.flush()
        audit.record("issuer.created", "issuer", issuer.id, after={"slug": issuer.slug})
    if active_key(issuer) is None:
        add_key(issuer)
    return issuer


def active_key(issuer: Issuer) -> IssuerKey | None:
    return db.session.scalar(
        select(IssuerKey)
        .where(
            IssuerKey.issuer_id == issuer.id,
            IssuerKey.retired_at.is_(None),
            IssuerKey.compromised_at.is_(None),
        )
        .order_by(IssuerKey.id.desc())
        .limit(1)
    )


def add_key(issuer: Issuer) -> IssuerKey:
    pair = multikey.generate_key_pair()
    number = len(issuer.keys) + 1
    key = IssuerKey(
        issuer=issuer,
        fragment=f"key-{number}",
        public_multikey=pair.public_multikey,
        secret_encrypted=seal(pair.secret_multikey.encode()),
    )
    db.session.add(key)
    db.session.flush()
    audit.record("issuer.key_created", "issuer", issuer.id, after={"key": key.fragment})
    return key


def rotate_key(issuer: Issuer) -> IssuerKey:
    """Retire the current key (it stays published and keeps verifying) and add a new one."""
    current = active_key(issuer)
    if current is not None:
        current.retired_at = utcnow()
    key = add_key(issuer)
    audit.record(
        "issuer.key_rotated",
        "issuer",
        issuer.id,
        before={"key": current.fragment if current else None},
        after={"key": key.fragment},
    )
    return key


def mark_compromised(issuer: Issuer, fragment: str, since: datetime) -> IssuerKey:
    """Badges signed with this key after ``since`` stop verifying; earlier ones still do."""
    key = db.session.scalar(
        select(IssuerKey).where(IssuerKey.issuer_id == issuer.id, IssuerKey.fragment == fragment)
    )
    if key is None:
        raise NotFoundError(f"{issuer.slug} has no key {fragment}.")
    if key.compromised_at is not None:
        raise ConflictError(f"{fragment} is already marked compromised.")
    key.compromised_at = since
    audit.record(
        "issuer.key_compromised",
        "issuer",
        issuer.id,
        after={"key": fragment, "since": since.isoformat()},
    )
    if active_key(issuer) is None:
        add_key(issuer)
    return key


def secret_key(key: IssuerKey) -> Ed25519PrivateKey:
    return multikey.decode_secret_key(unseal(key.secret_encrypted).decode())


_DID_KEY = re.compile(
    r"^did:web:(?P<host>[^:#]+):issuers:(?P<slug>[a-z0-9-]+)#(?P<fragment>[\w-]+)$"
)


def resolve_key(verification_method: str) -> tuple[IssuerKey | None, str]:
    """Our own key for a verification method id, or a reason why not."""
    match = _DID_KEY.match(verification_method)
    if match is None:
        return None, f"{verification_method} is not a key of an issuer this service knows."
    expected_host = quote(urlsplit(public_base_url()).netloc, safe="")
    if match["host"] != expected_host:
        return (
            None,
            f"The key belongs to another host ({match['host']}); this service does not trust it.",
        )
    key = db.session.scalar(
        select(IssuerKey)
        .join(Issuer)
        .where(Issuer.slug == match["slug"], IssuerKey.fragment == match["fragment"])
    )
    if key is None:
        return None, f"No published key {verification_method}."
    return key, ""


def public_key(key: IssuerKey) -> Ed25519PublicKey:
    return multikey.decode_public_key(key.public_multikey)


def did_document(issuer: Issuer) -> dict[str, Any]:
    did = did_for(issuer)
    methods = [
        multikey.verification_method_document(f"{did}#{key.fragment}", did, public_key(key))
        for key in issuer.keys
    ]
    for method in methods:
        method.pop("@context", None)
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "alsoKnownAs": [f"{public_base_url()}/issuers/{issuer.slug}"],
        "verificationMethod": methods,
        "assertionMethod": [method["id"] for method in methods],
    }
