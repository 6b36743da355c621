"""Ed25519 keys as Multikey strings (W3C Controlled Identifiers 1.0, "Multikey").

A Multikey value is multibase base58-btc (prefix ``z``) of a multicodec header
followed by the raw key bytes: ``0xed 0x01`` for an Ed25519 public key and
``0x80 0x26`` for an Ed25519 secret key (its 32-byte seed).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
ED25519_PUBLIC_KEY_HEADER = b"\xed\x01"
ED25519_SECRET_KEY_HEADER = b"\x80\x26"
ED25519_KEY_LENGTH = 32

BASE58BTC_PREFIX = "z"
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}


class MultikeyError(ValueError):
    """A Multikey or multibase string is malformed or of an unsupported kind."""


def base58btc_encode(data: bytes) -> str:
    """Bitcoin base58 alphabet; each leading zero byte becomes a leading '1'."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        try:
            number = number * 58 + _BASE58_INDEX[char]
        except KeyError:
            raise MultikeyError(f"not a base58-btc character: {char!r}") from None
    leading_zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * leading_zeros + body


def multibase_encode(data: bytes) -> str:
    """Multibase base58-btc, the only base Data Integrity EdDSA proofs use."""
    return BASE58BTC_PREFIX + base58btc_encode(data)


def multibase_decode(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(BASE58BTC_PREFIX):
        raise MultikeyError("expected a multibase base58-btc string starting with 'z'")
    return base58btc_decode(text[1:])


def _decode_with_header(multikey: str, header: bytes, kind: str) -> bytes:
    raw = multibase_decode(multikey)
    if not raw.startswith(header):
        raise MultikeyError(f"not an {kind} Multikey (multicodec header {header.hex()})")
    key_bytes = raw[len(header) :]
    if len(key_bytes) != ED25519_KEY_LENGTH:
        raise MultikeyError(f"an {kind} is {ED25519_KEY_LENGTH} bytes, got {len(key_bytes)}")
    return key_bytes


def encode_public_key(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return multibase_encode(ED25519_PUBLIC_KEY_HEADER + raw)


def decode_public_key(multikey: str) -> Ed25519PublicKey:
    raw = _decode_with_header(multikey, ED25519_PUBLIC_KEY_HEADER, "Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def encode_secret_key(secret_key: Ed25519PrivateKey) -> str:
    seed = secret_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return multibase_encode(ED25519_SECRET_KEY_HEADER + seed)


def decode_secret_key(multikey: str) -> Ed25519PrivateKey:
    seed = _decode_with_header(multikey, ED25519_SECRET_KEY_HEADER, "Ed25519 secret key")
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True)
class Ed25519KeyPair:
    secret_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.secret_key.public_key()

    @property
    def public_multikey(self) -> str:
        return encode_public_key(self.public_key)

    @property
    def secret_multikey(self) -> str:
        return encode_secret_key(self.secret_key)


def generate_key_pair() -> Ed25519KeyPair:
    return Ed25519KeyPair(Ed25519PrivateKey.generate())


def verification_method_document(
    key_id: str, controller: str, public_key: Ed25519PublicKey
) -> dict:
    """The Multikey verification method as published in an issuer's profile document."""
    return {
        "@context": MULTIKEY_CONTEXT,
        "id": key_id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": encode_public_key(public_key),
    }
