"""The VC-JWT form of a badge (Open Badges 3.0 §8.2, W3C VC-JOSE-COSE).

The JWS payload is the credential itself, without its Data Integrity proof,
with the registered JWT claims that mirror it (``iss``, ``jti``, ``nbf``,
``exp``, ``sub``). It is signed with the same Ed25519 issuer key (``EdDSA``);
the header's ``kid`` is the key's DID URL, resolved like a proof's
``verificationMethod``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from badges.credential import parse_time

MEDIA_TYPE = "application/vc+jwt"
REGISTERED_CLAIMS = ("iss", "jti", "nbf", "exp", "sub", "iat")


def _epoch(value: Any) -> int | None:
    moment = parse_time(value)
    return int(moment.timestamp()) if moment is not None else None


def _claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    issuer = credential.get("issuer")
    subject = credential.get("credentialSubject")
    claims = {
        "iss": issuer.get("id") if isinstance(issuer, Mapping) else issuer,
        "jti": credential.get("id"),
        "nbf": _epoch(credential.get("validFrom")),
        "exp": _epoch(credential.get("validUntil")),
        "sub": subject.get("id") if isinstance(subject, Mapping) else None,
    }
    return {name: value for name, value in claims.items() if value is not None}


def encode(credential: Mapping[str, Any], secret: Ed25519PrivateKey, kid: str) -> str:
    """Sign the credential (its ``proof``, if any, left out) as a compact JWS."""
    payload = {name: value for name, value in credential.items() if name != "proof"}
    payload.update(_claims(payload))
    return jwt.encode(
        payload, secret, algorithm="EdDSA", headers={"kid": kid, "typ": "vc+jwt", "cty": "vc"}
    )


def looks_like_jwt(text: str) -> bool:
    parts = text.strip().split(".")
    return len(parts) == 3 and all(parts) and text.strip().startswith("eyJ")


@dataclass(frozen=True)
class Decoded:
    """What a VC-JWT says, and whether its signature holds."""

    credential: dict[str, Any] | None  # the payload without the JWT claims
    kid: str
    signature_valid: bool
    reason: str


def decode(token: str, resolve: Callable[[str], Ed25519PublicKey | None]) -> Decoded:
    """Check the JWS with the key its ``kid`` names and the claims against the credential."""
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return Decoded(None, "", False, "This is not a readable VC-JWT.")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else ""
    credential = {n: v for n, v in unverified.items() if n not in REGISTERED_CLAIMS}
    if header.get("alg") != "EdDSA":
        return Decoded(credential, kid, False, "Only EdDSA (Ed25519) signatures are accepted.")
    key = resolve(kid) if kid else None
    if key is None:
        return Decoded(
            credential, kid, False, "The signing key named in the header cannot be found."
        )
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            # Expiry and revocation are reported as checks of their own.
            options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.PyJWTError:
        return Decoded(
            credential, kid, False, "The signature does not match: the token was changed."
        )
    mismatched = [
        name
        for name, value in _claims(credential).items()
        if name in payload and payload[name] != value
    ]
    if mismatched or any(name not in payload for name in ("iss", "jti", "nbf")):
        return Decoded(
            credential,
            kid,
            False,
            "The token's claims (issuer, id, dates) do not match the credential it carries.",
        )
    return Decoded(
        credential, kid, True, "The signature is valid: nothing has changed since issue."
    )
