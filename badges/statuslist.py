"""W3C Bitstring Status List v1.0 (Recommendation, 15 May 2025): pure library code.

A status list is a bitstring of at least 131,072 bits (16 KB). Bit ``i`` belongs
to the credential whose ``BitstringStatusListEntry`` carries
``statusListIndex = "i"``; a set bit (1) means the status (for example
"revoked") applies. Index 0 is the left-most bit, that is the most significant
bit of the first byte.

The list is published inside a ``BitstringStatusListCredential`` whose
``credentialSubject.encodedList`` is the multibase (prefix ``u``) base64url
encoding, without padding, of the GZIP-compressed bitstring.

This module builds entries and unsigned list credentials, encodes and decodes
lists, and checks one entry against one list credential. Fetching the list,
verifying its proof and signing it happen elsewhere. Nothing here touches the
database or Flask.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import struct
import zlib
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
LIST_TYPE = "BitstringStatusList"
ERROR_TYPE_BASE = "https://www.w3.org/ns/credentials/status-list#"

#: The spec's minimum (and our default) list length: 131,072 entries, 16 KB.
MIN_BITS = 131_072
DEFAULT_BITS = MIN_BITS
#: The largest list we build or accept: 16,777,216 entries, 2 MiB uncompressed.
#: Decoding stops as soon as the output would pass this, so a small GZIP that
#: expands to gigabytes (a "gzip bomb") costs at most this much memory.
MAX_BITS = 1 << 24

#: The multibase prefix for base64url without padding.
MULTIBASE_BASE64URL = "u"

_GZIP_MAGIC = b"\x1f\x8b"
# A fixed 10-byte GZIP header (RFC 1952): deflate, no flags, mtime 0, no extra
# flags, OS 3 (Unix). Fixing it makes encoding byte-for-byte reproducible on
# every platform and Python version (the same list always publishes the same
# string), and it is what produces the spec's example string for an empty list.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_GZIP_LEVEL = 6
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_DECIMAL = re.compile(r"[0-9]+")
_RANDOM_TRIES = 64


# --------------------------------------------------------------------------
# Errors, named after the spec's error codes (section 3.5)
# --------------------------------------------------------------------------


class StatusListError(ValueError):
    """A status list problem; ``code`` is the spec's error code."""

    code = "STATUS_VERIFICATION_ERROR"

    @property
    def type_url(self) -> str:
        """The RFC 9457 problem ``type`` the spec assigns to this error."""
        return ERROR_TYPE_BASE + self.code


class MalformedValueError(StatusListError):
    """A value breaks one of the spec's MUST rules (bad encoding, bad field)."""

    code = "MALFORMED_VALUE_ERROR"


class StatusListLengthError(StatusListError):
    """The list is shorter than the 131,072 entries herd privacy needs, or
    longer than this implementation accepts."""

    code = "STATUS_LIST_LENGTH_ERROR"


class StatusRangeError(StatusListError, IndexError):
    """The index points outside the list."""

    code = "RANGE_ERROR"


class StatusVerificationError(StatusListError):
    """The entry and the list credential do not belong together."""

    code = "STATUS_VERIFICATION_ERROR"


class StatusListFullError(Exception):
    """Every index of the list is in use: the issuer must start a new list.
    (An issuing problem, not one of the spec's verification errors.)"""


# --------------------------------------------------------------------------
# The bitstring
# --------------------------------------------------------------------------


def _check_size(size: int, *, max_bits: int = MAX_BITS) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"a status list size must be an int, not {type(size).__name__}")
    if size < MIN_BITS:
        raise StatusListLengthError(
            f"a status list must have at least {MIN_BITS:,} entries (16 KB); {size:,} asked"
        )
    if size % 8:
        raise StatusListLengthError(f"a status list size must be a multiple of 8; {size:,} asked")
    if size > max_bits:
        raise StatusListLengthError(
            f"a status list may have at most {max_bits:,} entries; {size:,} asked"
        )


class Bitstring:
    """A mutable list of status bits; index 0 is the high bit of byte 0."""

    __slots__ = ("_bytes",)

    def __init__(self, size: int = DEFAULT_BITS) -> None:
        _check_size(size)
        self._bytes = bytearray(size // 8)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray, *, max_bits: int = MAX_BITS) -> Bitstring:
        """A list over a copy of ``data`` (the uncompressed bitstring)."""
        _check_size(len(data) * 8, max_bits=max_bits)
        bits = cls.__new__(cls)
        bits._bytes = bytearray(data)
        return bits

    @classmethod
    def with_set(cls, indexes: Iterable[int], size: int = DEFAULT_BITS) -> Bitstring:
        """A list of ``size`` bits with exactly ``indexes`` set."""
        bits = cls(size)
        for index in indexes:
            bits.set(index)
        return bits

    @property
    def size(self) -> int:
        return len(self._bytes) * 8

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitstring):
            return NotImplemented
        return self._bytes == other._bytes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Bitstring(size={self.size}, set={self.count()})"

    def _locate(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a status list index must be an int, not {type(index).__name__}")
        if not 0 <= index < self.size:
            raise StatusRangeError(
                f"index {index} is outside the status list (valid: 0 to {self.size - 1})"
            )
        return index >> 3, 0x80 >> (index & 7)

    def get(self, index: int) -> bool:
        byte, mask = self._locate(index)
        return bool(self._bytes[byte] & mask)

    def set(self, index: int, value: bool = True) -> None:
        byte, mask = self._locate(index)
        if value:
            self._bytes[byte] |= mask
        else:
            self._bytes[byte] &= ~mask & 0xFF

    def clear(self, index: int) -> None:
        self.set(index, False)

    def count(self) -> int:
        """How many bits are set."""
        return int.from_bytes(self._bytes, "big").bit_count()

    def set_indexes(self) -> Iterator[int]:
        """The indexes of the set bits, in ascending order."""
        for byte_index, byte in enumerate(self._bytes):
            if byte:
                base = byte_index * 8
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        yield base + bit

    def to_bytes(self) -> bytes:
        """The uncompressed bitstring."""
        return bytes(self._bytes)

    def encode(self) -> str:
        """The spec's ``encodedList``: ``u`` + base64url(no padding) of GZIP(bits)."""
        return encode_bits(self._bytes)

    @classmethod
    def decode(cls, encoded_list: str, *, max_bits: int = MAX_BITS) -> Bitstring:
        """The list an ``encodedList`` carries; see :func:`decode_bits`."""
        bits = cls.__new__(cls)
        bits._bytes = bytearray(decode_bits(encoded_list, max_bits=max_bits))
        return bits


def _gzip(data: bytes | bytearray) -> bytes:
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = compressor.compress(data) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return _GZIP_HEADER + body + trailer


def encode_bits(data: bytes | bytearray) -> str:
    """Encode an uncompressed bitstring as the spec's ``encodedList``."""
    _check_size(len(data) * 8)
    text = base64.urlsafe_b64encode(_gzip(data)).decode("ascii").rstrip("=")
    return MULTIBASE_BASE64URL + text


def _gunzip(compressed: bytes, max_bytes: int) -> bytes:
    if compressed[:2] != _GZIP_MAGIC:
        raise MalformedValueError("the encodedList is not GZIP-compressed data")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # GZIP wrapper only, checks CRC
    try:
        # Never ask for more than one byte past the limit: memory stays bounded
        # whatever the compressed data claims.
        out = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedValueError(f"the encodedList's GZIP data is corrupt ({exc})") from exc
    if len(out) > max_bytes:
        raise StatusListLengthError(
            f"the encodedList expands to more than {max_bytes:,} bytes "
            f"({max_bytes * 8:,} entries), the most accepted; refused"
        )
    if not inflater.eof:
        raise MalformedValueError("the encodedList's GZIP data is truncated")
    if inflater.unused_data:
        raise MalformedValueError("the encodedList has data after the end of its GZIP stream")
    return out


def decode_bits(encoded_list: str, *, max_bits: int = MAX_BITS) -> bytes:
    """The uncompressed bitstring an ``encodedList`` carries.

    Raises :class:`MalformedValueError` for anything that is not ``u`` +
    base64url (no padding) of one GZIP stream, and :class:`StatusListLengthError`
    when the bitstring is shorter than 131,072 bits or longer than ``max_bits``
    (checked while decompressing, so a GZIP bomb is refused cheaply).
    """
    if not isinstance(encoded_list, str):
        raise MalformedValueError(
            f"the encodedList must be a string, not {type(encoded_list).__name__}"
        )
    if not encoded_list.startswith(MULTIBASE_BASE64URL):
        shown = repr(encoded_list[:1]) if encoded_list else "nothing"
        raise MalformedValueError(
            f"the encodedList must start with the multibase prefix 'u' "
            f"(base64url, no padding); it starts with {shown}"
        )
    text = encoded_list[1:]
    max_bytes = max_bits // 8
    # GZIP never makes a long run of zeros much bigger; anything this long
    # cannot be a list we would accept, so do not even decode it.
    if len(text) > 2 * max_bytes + 1024:
        raise StatusListLengthError("the encodedList is far too long to be an acceptable list")
    if not _BASE64URL.fullmatch(text):
        raise MalformedValueError(
            "the encodedList must be base64url without padding "
            "(only A-Z, a-z, 0-9, '-' and '_' after the 'u')"
        )
    if len(text) % 4 == 1:
        raise MalformedValueError("the encodedList has an impossible base64url length")
    try:
        compressed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - filtered above
        raise MalformedValueError(f"the encodedList is not valid base64url ({exc})") from exc
    data = _gunzip(compressed, max_bytes)
    if len(data) * 8 < MIN_BITS:
        raise StatusListLengthError(
            f"the status list has {len(data) * 8:,} entries; the spec requires at least "
            f"{MIN_BITS:,} (16 KB) for herd privacy"
        )
    return data


# --------------------------------------------------------------------------
# Choosing an index
# --------------------------------------------------------------------------


def random_free_index(
    used: Container[int],
    size: int = DEFAULT_BITS,
    rng: Random | None = None,
    *,
    all_used: Callable[[], Container[int]] | None = None,
) -> int:
    """A uniformly random index in ``range(size)`` that is not in ``used``.

    The spec asks for random assignment so that an index reveals neither when
    the credential was issued nor how many were issued. Without ``rng`` the
    operating system's randomness is used, so the next index cannot be guessed.
    Raises :class:`StatusListFullError` when every index is taken.

    ``used`` is only asked about one index at a time, so it may be a lookup (a
    database query) rather than a set; ``all_used``, when given, returns the
    cheaper container to scan for a nearly full list.
    """
    _check_size(size)
    rng = rng if rng is not None else secrets.SystemRandom()
    # Rejection sampling is uniform over the free indexes and takes constant
    # time while the list is mostly free; only when it keeps hitting used
    # indexes (a nearly full list) are the free ones listed, once.
    for _ in range(_RANDOM_TRIES):
        index = rng.randrange(size)
        if index not in used:
            return index
    taken = all_used() if all_used is not None else used
    free = [index for index in range(size) if index not in taken]
    if not free:
        raise StatusListFullError(
            f"all {size:,} indexes of this status list are in use; start a new list"
        )
    return rng.choice(free)


# --------------------------------------------------------------------------
# Building the JSON
# --------------------------------------------------------------------------


def _check_url(url: str, what: str) -> None:
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"the {what} must be a non-empty URL string")
    if "#" in url:
        raise ValueError(f"the {what} must not contain a fragment ('#'): {url}")


def _check_purpose(purpose: str) -> None:
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("a statusPurpose must be a non-empty string")


def status_entry(
    list_credential_url: str, index: int, purpose: str = "revocation"
) -> dict[str, str]:
    """The ``BitstringStatusListEntry`` a credential carries in ``credentialStatus``."""
    _check_url(list_credential_url, "status list credential URL")
    _check_purpose(purpose)
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"a status list index must be an int, not {type(index).__name__}")
    if index < 0:
        raise StatusRangeError(f"a status list index must be 0 or more, not {index}")
    return {
        "id": f"{list_credential_url}#{index}",
        "type": ENTRY_TYPE,
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": list_credential_url,
    }


def _iso(moment: datetime | str, what: str) -> str:
    if isinstance(moment, str):
        _parse_time(moment, what)
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_list_credential(
    list_credential_url: str,
    issuer: Mapping[str, Any] | str,
    encoded_list: str | Bitstring,
    valid_from: datetime | str,
    purpose: str = "revocation",
    *,
    valid_until: datetime | str | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` publishing one list.

    ``encoded_list`` is checked by decoding it, so a broken list is caught here
    rather than by every verifier.
    """
    _check_url(list_credential_url, "status list credential URL")
    _check_purpose(purpose)
    if isinstance(issuer, Mapping):
        if not isinstance(issuer.get("id"), str) or not issuer["id"]:
            raise ValueError("an issuer object must have an 'id'")
        issuer_value: dict[str, Any] | str = dict(issuer)
    elif isinstance(issuer, str) and issuer:
        issuer_value = issuer
    else:
        raise ValueError("the issuer must be a URL string or an object with an 'id'")
    if isinstance(encoded_list, Bitstring):
        encoded_list = encoded_list.encode()
    else:
        decode_bits(encoded_list)
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": list_credential_url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer_value,
        "validFrom": _iso(valid_from, "validFrom"),
    }
    if valid_until is not None:
        credential["validUntil"] = _iso(valid_until, "validUntil")
        if _parse_time(credential["validUntil"], "validUntil") < _parse_time(
            credential["validFrom"], "validFrom"
        ):
            raise ValueError("validUntil must not be before validFrom")
    credential["credentialSubject"] = {
        "id": f"{list_credential_url}#list",
        "type": LIST_TYPE,
        "statusPurpose": purpose,
        "encodedList": encoded_list,
    }
    return credential


# --------------------------------------------------------------------------
# Checking a credential's status
# --------------------------------------------------------------------------

_VERDICTS = {
    "revocation": ("has been revoked", "has not been revoked"),
    "suspension": ("is suspended", "is not suspended"),
}


@dataclass(frozen=True)
class StatusCheck:
    """The outcome of checking one status entry against one list credential.

    ``ok`` says whether the check could be made at all. When it could,
    ``is_set`` is the bit; ``valid`` is the spec's verdict (bit 0 → valid).
    When it could not, ``error`` is the spec's error code and ``reason`` says why.
    """

    ok: bool
    reason: str
    is_set: bool | None = None
    purpose: str | None = None
    index: int | None = None
    list_url: str | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.ok and self.is_set is False

    @property
    def error_type(self) -> str | None:
        return ERROR_TYPE_BASE + self.error if self.error else None


def _types(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    return []


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedValueError(f"{what} must be a date-time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedValueError(f"{what} is not a valid date-time: {value!r}") from exc
    if moment.tzinfo is None:
        raise MalformedValueError(f"{what} must carry a time zone: {value!r}")
    return moment


def _entry_fields(entry: Any) -> tuple[str, int, str]:
    if not isinstance(entry, Mapping):
        raise MalformedValueError("the credential status entry must be an object")
    if ENTRY_TYPE not in _types(entry.get("type")):
        raise MalformedValueError(
            f"the credential status entry is not a {ENTRY_TYPE} (type: {entry.get('type')!r})"
        )
    purpose = entry.get("statusPurpose")
    if not isinstance(purpose, str) or not purpose:
        raise MalformedValueError("the status entry has no statusPurpose")
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not _DECIMAL.fullmatch(raw_index):
        raise MalformedValueError(
            "the status entry's statusListIndex must be a whole number written "
            f"as a base-10 string, not {raw_index!r}"
        )
    if len(raw_index) > 30:
        raise StatusRangeError(f"statusListIndex {raw_index[:30]}... is far outside any list")
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or not url:
        raise MalformedValueError("the status entry has no statusListCredential URL")
    if entry.get("id") is not None and entry.get("id") == url:
        raise MalformedValueError("the status entry's id must not be the status list's URL")
    size = entry.get("statusSize", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise MalformedValueError("the status entry's statusSize must be a positive integer")
    if size != 1:
        raise StatusVerificationError(
            f"status entries of {size} bits are not supported; only 1-bit statuses are"
        )
    return purpose, int(raw_index), url


def _list_fields(list_credential: Any, now: datetime) -> tuple[str | None, list[str], str]:
    if not isinstance(list_credential, Mapping):
        raise MalformedValueError("the status list credential must be an object")
    contexts = list_credential.get("@context")
    if not isinstance(contexts, list) or not contexts or contexts[0] != VC_CONTEXT:
        raise MalformedValueError(
            f"the status list credential's first @context must be {VC_CONTEXT}"
        )
    types = _types(list_credential.get("type"))
    if "VerifiableCredential" not in types or LIST_CREDENTIAL_TYPE not in types:
        raise MalformedValueError(
            f"the status list credential's type must include VerifiableCredential and "
            f"{LIST_CREDENTIAL_TYPE} (type: {list_credential.get('type')!r})"
        )
    subject = list_credential.get("credentialSubject")
    if isinstance(subject, list) and len(subject) == 1:
        subject = subject[0]
    if not isinstance(subject, Mapping):
        raise MalformedValueError("the status list credential must have one credentialSubject")
    if LIST_TYPE not in _types(subject.get("type")):
        raise MalformedValueError(
            f"the status list's credentialSubject type must be {LIST_TYPE} "
            f"(type: {subject.get('type')!r})"
        )
    purposes = subject.get("statusPurpose")
    purpose_list = [purposes] if isinstance(purposes, str) else purposes
    if (
        not isinstance(purpose_list, list)
        or not purpose_list
        or not all(isinstance(p, str) and p for p in purpose_list)
    ):
        raise MalformedValueError("the status list's statusPurpose must be one or more strings")
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise MalformedValueError("the status list has no encodedList")
    if "validFrom" in list_credential:
        start = _parse_time(list_credential["validFrom"], "the status list's validFrom")
        if now < start:
            raise StatusVerificationError(
                f"the status list is not valid yet (valid from {list_credential['validFrom']})"
            )
    if "validUntil" in list_credential:
        end = _parse_time(list_credential["validUntil"], "the status list's validUntil")
        if now > end:
            raise StatusVerificationError(
                f"the status list expired on {list_credential['validUntil']}; "
                "a current copy is needed"
            )
    list_id = list_credential.get("id")
    return (list_id if isinstance(list_id, str) else None), purpose_list, encoded


def check_status(
    entry: Mapping[str, Any],
    list_credential: Mapping[str, Any],
    *,
    now: datetime | None = None,
    max_bits: int = MAX_BITS,
) -> StatusCheck:
    """Check a ``BitstringStatusListEntry`` against the list credential it names.

    Follows the spec's validate algorithm (section 3.2) after the proof check,
    which is the caller's job: the list must be the one the entry points at
    (same URL), carry the entry's purpose, be in its validity period at ``now``
    (default: the current time), hold at least 131,072 entries, and contain the
    index. Never raises for bad input; a failed check comes back with ``ok``
    false, the spec's error code and a plain-language reason.
    """
    now = now if now is not None else datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    purpose: str | None = None
    index: int | None = None
    url: str | None = None
    try:
        purpose, index, url = _entry_fields(entry)
        list_id, list_purposes, encoded = _list_fields(list_credential, now)
        if list_id != url:
            raise StatusVerificationError(
                f"the status list supplied ({list_id or 'one without an id'}) is not the one "
                f"this credential points to ({url})"
            )
        if purpose not in list_purposes:
            raise StatusVerificationError(
                f"the credential's status is for {purpose!r}, but this status list is for "
                f"{' and '.join(repr(p) for p in list_purposes)}"
            )
        bits = Bitstring.decode(encoded, max_bits=max_bits)
        is_set = bits.get(index)
    except StatusListError as exc:
        return StatusCheck(
            ok=False,
            reason=f"The credential's status could not be checked: {exc}.",
            purpose=purpose,
            index=index,
            list_url=url,
            error=exc.code,
        )
    verdicts = _VERDICTS.get(purpose)
    if verdicts is not None:
        verdict = verdicts[0] if is_set else verdicts[1]
        reason = f"This credential {verdict} (entry {index} of status list {url})."
    else:
        state = "set" if is_set else "not set"
        reason = f"The {purpose!r} status of this credential is {state} (entry {index} of {url})."
    return StatusCheck(
        ok=True, reason=reason, is_set=is_set, purpose=purpose, index=index, list_url=url
    )
