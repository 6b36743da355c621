"""Secrets at rest: issuer signing keys are stored encrypted with a key from configuration."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class KeystoreError(RuntimeError):
    """The configured key cannot open a stored secret (wrong or rotated BADGE_KEY_SECRET)."""


def _fernet() -> Fernet:
    secret = current_app.config.get("BADGE_KEY_SECRET") or current_app.config["SECRET_KEY"]
    # Derive a dedicated key so the session secret and the keystore never share material.
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"microcred-keystore", info=b"issuer-keys"
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: bytes) -> bytes:
    return _fernet().encrypt(secret)


def unseal(token: bytes) -> bytes:
    try:
        return _fernet().decrypt(token)
    except InvalidToken as exc:
        raise KeystoreError(
            "A stored signing key cannot be decrypted: BADGE_KEY_SECRET differs from the one "
            "it was stored with."
        ) from exc
