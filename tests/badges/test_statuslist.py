"""W3C Bitstring Status List v1.0: bitstring, encoding, entries, list credentials, checks.

Spec examples are quoted from the Recommendation of 15 May 2025
(https://www.w3.org/TR/2025/REC-vc-bitstring-status-list-20250515/).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta, timezone
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badges.statuslist import (
    DEFAULT_BITS,
    MAX_BITS,
    MIN_BITS,
    Bitstring,
    MalformedValueError,
    StatusCheck,
    StatusListError,
    StatusListFullError,
    StatusListLengthError,
    StatusRangeError,
    check_status,
    decode_bits,
    encode_bits,
    random_free_index,
    status_entry,
    status_list_credential,
)

# Section 2.2, Example 3: the encodedList of an empty 131,072-entry list.
SPEC_EMPTY_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

# Section 2.1, Example 1, first entry.
SPEC_ENTRY = {
    "id": "https://example.com/credentials/status/3#94567",
    "type": "BitstringStatusListEntry",
    "statusPurpose": "revocation",
    "statusListIndex": "94567",
    "statusListCredential": "https://example.com/credentials/status/3",
}

# Section 2.2, Example 3.
SPEC_LIST_CREDENTIAL = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": "https://example.com/credentials/status/3",
    "type": ["VerifiableCredential", "BitstringStatusListCredential"],
    "issuer": "did:example:12345",
    "validFrom": "2021-04-05T14:27:40Z",
    "credentialSubject": {
        "id": "https://example.com/status/3#list",
        "type": "BitstringStatusList",
        "statusPurpose": "revocation",
        "encodedList": SPEC_EMPTY_LIST,
    },
}

LIST_URL = "https://badges.example.edu/status/1"
ISSUER = {"id": "https://badges.example.edu/issuer", "type": ["Profile"], "name": "Example"}
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
A_YEAR_AGO = NOW - timedelta(days=365)


def multibase(raw: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def list_credential(
    bits: Bitstring | str, purpose: str | list[str] = "revocation", **extra: Any
) -> dict[str, Any]:
    encoded = bits if isinstance(bits, str) else bits.encode()
    credential = status_list_credential(LIST_URL, ISSUER, encoded, A_YEAR_AGO)
    credential["credentialSubject"]["statusPurpose"] = purpose
    credential.update(extra)
    return credential


# --------------------------------------------------------------------------
# The bitstring
# --------------------------------------------------------------------------


def test_a_new_list_has_the_spec_minimum_size_and_no_bits_set() -> None:
    bits = Bitstring()
    assert DEFAULT_BITS == MIN_BITS == 131_072
    assert bits.size == len(bits) == 131_072
    assert len(bits.to_bytes()) == 16 * 1024
    assert bits.count() == 0
    assert list(bits.set_indexes()) == []


def test_set_clear_get() -> None:
    bits = Bitstring()
    bits.set(42)
    assert bits.get(42)
    assert not bits.get(41)
    assert not bits.get(43)
    bits.set(42)  # setting twice is harmless
    assert bits.count() == 1
    bits.clear(42)
    assert not bits.get(42)
    bits.set(7, True)
    bits.set(7, False)
    assert bits.count() == 0


def test_index_zero_is_the_high_bit_of_the_first_byte() -> None:
    bits = Bitstring()
    bits.set(0)
    data = bits.to_bytes()
    assert data[0] == 0b1000_0000
    assert not any(data[1:])


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x80), (1, 0, 0x40), (7, 0, 0x01), (8, 1, 0x80), (131_071, 16_383, 0x01)],
)
def test_bit_layout_left_to_right(index: int, byte: int, value: int) -> None:
    bits = Bitstring()
    bits.set(index)
    data = bits.to_bytes()
    assert data[byte] == value
    assert sum(data) == value


def test_reading_follows_the_same_layout() -> None:
    data = bytearray(MIN_BITS // 8)
    data[0] = 0b1010_0000
    data[-1] = 0b0000_0001
    bits = Bitstring.from_bytes(data)
    assert list(bits.set_indexes()) == [0, 2, MIN_BITS - 1]


def test_first_and_last_index_are_usable() -> None:
    bits = Bitstring()
    bits.set(0)
    bits.set(MIN_BITS - 1)
    decoded = Bitstring.decode(bits.encode())
    assert decoded.get(0)
    assert decoded.get(131_071)
    assert decoded.count() == 2


@pytest.mark.parametrize("index", [-1, MIN_BITS, MIN_BITS + 1, 10**30])
def test_an_index_outside_the_list_is_refused(index: int) -> None:
    bits = Bitstring()
    with pytest.raises(StatusRangeError, match="outside the status list"):
        bits.get(index)
    with pytest.raises(StatusRangeError):
        bits.set(index)
    with pytest.raises(IndexError):  # it is also an IndexError for callers
        bits.clear(index)


@pytest.mark.parametrize("index", [True, 1.0, "3", None])
def test_an_index_must_be_an_int(index: Any) -> None:
    with pytest.raises(TypeError):
        Bitstring().get(index)


@pytest.mark.parametrize("size", [0, 8, MIN_BITS - 8, MIN_BITS + 1, MAX_BITS + 8])
def test_sizes_below_the_minimum_not_whole_bytes_or_too_large_are_refused(size: int) -> None:
    with pytest.raises(StatusListLengthError):
        Bitstring(size)


def test_a_larger_list_for_more_herd_privacy() -> None:
    bits = Bitstring(4 * MIN_BITS)
    bits.set(4 * MIN_BITS - 1)
    decoded = Bitstring.decode(bits.encode())
    assert decoded.size == 524_288
    assert list(decoded.set_indexes()) == [524_287]


def test_from_bytes_copies_its_input() -> None:
    data = bytearray(MIN_BITS // 8)
    bits = Bitstring.from_bytes(data)
    data[0] = 0xFF
    assert not bits.get(0)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def test_an_empty_list_encodes_to_the_spec_example_exactly() -> None:
    assert Bitstring().encode() == SPEC_EMPTY_LIST
    assert encode_bits(bytes(MIN_BITS // 8)) == SPEC_EMPTY_LIST


def test_the_spec_example_decodes_to_an_empty_131072_bit_list() -> None:
    decoded = Bitstring.decode(SPEC_EMPTY_LIST)
    assert decoded.size == 131_072
    assert decoded.count() == 0
    assert decoded == Bitstring()


def test_encoding_is_multibase_base64url_of_gzip() -> None:
    bits = Bitstring.with_set([3, 1000, 99_999])
    encoded = bits.encode()
    assert encoded.startswith("u")
    assert "=" not in encoded
    assert "+" not in encoded and "/" not in encoded
    body = encoded[1:]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert gzip.decompress(raw) == bits.to_bytes()  # any GZIP reader can read it


def test_encoding_is_reproducible() -> None:
    bits = Bitstring.with_set(range(0, MIN_BITS, 997))
    assert bits.encode() == Bitstring.from_bytes(bits.to_bytes()).encode()


def test_a_list_from_another_gzip_writer_is_read() -> None:
    bits = Bitstring.with_set([5, 77_777])
    foreign = multibase(gzip.compress(bits.to_bytes(), compresslevel=9, mtime=1_700_000_000))
    assert Bitstring.decode(foreign) == bits


def test_round_trip() -> None:
    indexes = {0, 1, 2, 8, 4095, 65_536, 131_071}
    decoded = Bitstring.decode(Bitstring.with_set(indexes).encode())
    assert set(decoded.set_indexes()) == indexes


def test_revocations_keep_the_list_small() -> None:
    rng = Random(7)
    bits = Bitstring.with_set(rng.sample(range(MIN_BITS), 100))
    assert len(bits.encode()) < 1200  # "a few hundred bytes" of GZIP, in base64


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_BITS - 1), max_size=300))
def test_property_encode_then_decode_keeps_exactly_the_set_bits(indexes: set[int]) -> None:
    decoded = Bitstring.decode(Bitstring.with_set(indexes).encode())
    assert set(decoded.set_indexes()) == indexes
    assert decoded.count() == len(indexes)
    assert decoded.size == MIN_BITS


@settings(max_examples=20, deadline=None)
@given(
    st.integers(min_value=1, max_value=8).flatmap(
        lambda k: st.tuples(
            st.just(k * MIN_BITS),
            st.sets(st.integers(min_value=0, max_value=k * MIN_BITS - 1), max_size=50),
        )
    )
)
def test_property_round_trip_for_larger_lists(case: tuple[int, set[int]]) -> None:
    size, indexes = case
    decoded = Bitstring.decode(Bitstring.with_set(indexes, size).encode())
    assert decoded.size == size
    assert set(decoded.set_indexes()) == indexes


# --------------------------------------------------------------------------
# Decoding errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        SPEC_EMPTY_LIST[1:],  # no multibase prefix
        "z" + SPEC_EMPTY_LIST[1:],  # base58btc prefix
        "m" + SPEC_EMPTY_LIST[1:],  # base64 (not url) prefix
        "U" + SPEC_EMPTY_LIST[1:],
    ],
)
def test_a_wrong_multibase_prefix_is_refused(encoded: str) -> None:
    with pytest.raises(MalformedValueError, match="multibase prefix 'u'"):
        decode_bits(encoded)


@pytest.mark.parametrize("encoded", [None, b"uH4sI", 42])
def test_an_encoded_list_must_be_a_string(encoded: Any) -> None:
    with pytest.raises(MalformedValueError, match="must be a string"):
        decode_bits(encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "u!!!!",
        "u" + SPEC_EMPTY_LIST[1:] + "==",  # padding is not allowed
        "u" + SPEC_EMPTY_LIST[1:].replace("-", "+"),  # base64, not base64url
        "uH4sI AAAA",
    ],
)
def test_characters_outside_base64url_are_refused(encoded: str) -> None:
    with pytest.raises(MalformedValueError, match="base64url without padding"):
        decode_bits(encoded)


def test_an_impossible_base64_length_is_refused() -> None:
    with pytest.raises(MalformedValueError, match="impossible base64url length"):
        decode_bits("uAAAAA")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        bytes(64),
        b"hello, this is not a status list",
        zlib.compress(bytes(MIN_BITS // 8)),  # zlib, not GZIP
    ],
)
def test_data_that_is_not_gzip_is_refused(raw: bytes) -> None:
    with pytest.raises(MalformedValueError, match="not GZIP"):
        decode_bits(multibase(raw))


def test_corrupt_gzip_is_refused() -> None:
    raw = bytearray(gzip.compress(Bitstring.with_set([1, 2, 3]).to_bytes()))
    raw[-8] ^= 0xFF  # the CRC-32 no longer matches
    with pytest.raises(MalformedValueError, match="corrupt"):
        decode_bits(multibase(bytes(raw)))
    raw = bytearray(gzip.compress(Bitstring.with_set([1, 2, 3]).to_bytes()))
    raw[12:20] = b"\xff" * 8  # the deflate data itself is broken
    with pytest.raises(MalformedValueError, match="corrupt"):
        decode_bits(multibase(bytes(raw)))


def test_truncated_gzip_is_refused() -> None:
    raw = gzip.compress(bytes(MIN_BITS // 8))
    with pytest.raises(MalformedValueError, match="truncated"):
        decode_bits(multibase(raw[:-4]))


def test_data_after_the_gzip_stream_is_refused() -> None:
    raw = gzip.compress(bytes(MIN_BITS // 8)) + b"extra"
    with pytest.raises(MalformedValueError, match="after the end"):
        decode_bits(multibase(raw))


@pytest.mark.parametrize("size_bytes", [0, 1, 1024, MIN_BITS // 8 - 1])
def test_a_list_shorter_than_16kb_is_refused(size_bytes: int) -> None:
    with pytest.raises(StatusListLengthError, match="at least 131,072") as caught:
        decode_bits(multibase(gzip.compress(bytes(size_bytes))))
    assert caught.value.code == "STATUS_LIST_LENGTH_ERROR"
    assert caught.value.type_url == (
        "https://www.w3.org/ns/credentials/status-list#STATUS_LIST_LENGTH_ERROR"
    )


def test_the_size_limit_is_inclusive() -> None:
    limit = 2 * MIN_BITS
    at_limit = multibase(gzip.compress(bytes(limit // 8)))
    assert len(decode_bits(at_limit, max_bits=limit)) == limit // 8
    over = multibase(gzip.compress(bytes(limit // 8 + 1)))
    with pytest.raises(StatusListLengthError, match="more than 32,768 bytes"):
        decode_bits(over, max_bits=limit)


@pytest.fixture(scope="module")
def gzip_bomb() -> str:
    """A small GZIP that expands to 64 MiB of zeros, 32 times the limit."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    raw = b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()
    return multibase(raw)


def test_a_gzip_bomb_is_refused_without_expanding_it(gzip_bomb: str) -> None:
    assert len(gzip_bomb) < 100_000  # small on the wire
    tracemalloc.start()
    try:
        with pytest.raises(StatusListLengthError, match="expands to more than"):
            decode_bits(gzip_bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20)  # the limit is 2 MiB; 64 MiB were never allocated


def test_check_status_refuses_a_gzip_bomb_as_a_failed_check(gzip_bomb: str) -> None:
    credential = list_credential(Bitstring())
    credential["credentialSubject"]["encodedList"] = gzip_bomb
    result = check_status(status_entry(LIST_URL, 5), credential, now=NOW)
    assert not result.ok
    assert result.error == "STATUS_LIST_LENGTH_ERROR"


def test_an_absurdly_long_encoded_list_is_refused_before_decoding() -> None:
    with pytest.raises(StatusListLengthError, match="far too long"):
        decode_bits("u" + "A" * (MIN_BITS // 2 + 2000), max_bits=MIN_BITS)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.text(alphabet="uAQH4sI-_wxyz0189", max_size=200)))
def test_property_decoding_fails_only_with_status_list_errors(encoded: str) -> None:
    with contextlib.suppress(StatusListError):
        decode_bits(encoded)


# --------------------------------------------------------------------------
# Choosing an index
# --------------------------------------------------------------------------


def test_random_free_index_never_returns_a_used_index() -> None:
    rng = Random(1234)
    used: set[int] = set(rng.sample(range(MIN_BITS), 100_000))
    for _ in range(2000):
        index = random_free_index(used, MIN_BITS, rng)
        assert 0 <= index < MIN_BITS
        assert index not in used
        used.add(index)


def test_random_free_index_spreads_over_the_whole_list() -> None:
    rng = Random(99)
    picks = [random_free_index(set(), rng=rng) for _ in range(200)]
    assert len(set(picks)) > 190
    assert min(picks) < MIN_BITS // 4
    assert max(picks) > 3 * MIN_BITS // 4
    assert picks != sorted(picks)  # not sequential: recency is not revealed


def test_random_free_index_finds_the_last_free_indexes() -> None:
    free = {5, 70_000, MIN_BITS - 1}
    used = set(range(MIN_BITS)) - free
    rng = Random(3)
    seen = {random_free_index(used, MIN_BITS, rng) for _ in range(60)}
    assert seen == free


def test_random_free_index_fails_clearly_when_the_list_is_full() -> None:
    with pytest.raises(StatusListFullError, match=r"all 131,072 indexes .* in use"):
        random_free_index(set(range(MIN_BITS)), MIN_BITS, Random(0))


def test_used_indexes_outside_the_list_do_not_count() -> None:
    used = set(range(MIN_BITS - 1)) | {-5, MIN_BITS, MIN_BITS + 1}
    assert random_free_index(used, MIN_BITS, Random(0)) == MIN_BITS - 1


def test_random_free_index_uses_system_randomness_by_default() -> None:
    assert 0 <= random_free_index({1, 2, 3}) < MIN_BITS


def test_random_free_index_refuses_a_size_below_the_minimum() -> None:
    with pytest.raises(StatusListLengthError):
        random_free_index(set(), 1024, Random(0))


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(min_value=-10, max_value=MIN_BITS + 10), max_size=500), st.integers())
def test_property_random_free_index_is_free_and_in_range(used: set[int], seed: int) -> None:
    index = random_free_index(used, MIN_BITS, Random(seed))
    assert 0 <= index < MIN_BITS
    assert index not in used


# --------------------------------------------------------------------------
# Entries and list credentials
# --------------------------------------------------------------------------


def test_status_entry_matches_the_spec_example() -> None:
    assert status_entry("https://example.com/credentials/status/3", 94567) == SPEC_ENTRY


def test_status_entry_for_another_purpose() -> None:
    entry = status_entry(LIST_URL, 0, purpose="suspension")
    assert entry["statusPurpose"] == "suspension"
    assert entry["statusListIndex"] == "0"
    assert entry["id"] == LIST_URL + "#0"


@pytest.mark.parametrize(
    ("url", "index", "purpose", "error"),
    [
        (LIST_URL, -1, "revocation", StatusRangeError),
        (LIST_URL, True, "revocation", TypeError),
        (LIST_URL, "5", "revocation", TypeError),
        ("", 5, "revocation", ValueError),
        (LIST_URL + "#list", 5, "revocation", ValueError),
        (LIST_URL, 5, "", ValueError),
    ],
)
def test_status_entry_refuses_bad_values(
    url: str, index: Any, purpose: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        status_entry(url, index, purpose)


def test_status_list_credential_shape() -> None:
    bits = Bitstring.with_set([12])
    credential = status_list_credential(
        LIST_URL, ISSUER, bits.encode(), datetime(2025, 5, 1, 9, 30, 15, 123, tzinfo=UTC)
    )
    assert credential == {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": LIST_URL,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ISSUER,
        "validFrom": "2025-05-01T09:30:15Z",
        "credentialSubject": {
            "id": LIST_URL + "#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": bits.encode(),
        },
    }
    assert "proof" not in credential  # signed elsewhere


def test_status_list_credential_follows_the_spec_example() -> None:
    url = "https://example.com/credentials/status/3"
    credential = status_list_credential(
        url, "did:example:12345", SPEC_EMPTY_LIST, "2021-04-05T14:27:40Z"
    )
    expected = copy.deepcopy(SPEC_LIST_CREDENTIAL)
    # The example's subject id points elsewhere; ours is always the list URL + "#list".
    expected["credentialSubject"]["id"] = url + "#list"
    assert credential == expected


def test_status_list_credential_options() -> None:
    bits = Bitstring.with_set([1])
    plus_two = timezone(timedelta(hours=2))
    credential = status_list_credential(
        LIST_URL,
        "https://badges.example.edu/issuer",
        bits,
        datetime(2025, 5, 1, 12, 0, tzinfo=plus_two),
        "suspension",
        valid_until=datetime(2025, 5, 2, 12, 0, tzinfo=plus_two),
    )
    assert credential["issuer"] == "https://badges.example.edu/issuer"
    assert credential["validFrom"] == "2025-05-01T10:00:00Z"  # normalised to UTC
    assert credential["validUntil"] == "2025-05-02T10:00:00Z"
    assert credential["credentialSubject"]["statusPurpose"] == "suspension"
    assert credential["credentialSubject"]["encodedList"] == bits.encode()


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"encoded_list": "H4sI"}, MalformedValueError),
        ({"encoded_list": multibase(gzip.compress(bytes(100)))}, StatusListLengthError),
        ({"valid_from": datetime(2025, 5, 1)}, ValueError),  # naive
        ({"valid_from": "yesterday"}, MalformedValueError),
        ({"valid_until": A_YEAR_AGO - timedelta(days=1)}, ValueError),
        ({"issuer": {"name": "No id"}}, ValueError),
        ({"issuer": ""}, ValueError),
        ({"list_credential_url": ""}, ValueError),
        ({"purpose": ""}, ValueError),
    ],
)
def test_status_list_credential_refuses_bad_values(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {
        "list_credential_url": LIST_URL,
        "issuer": ISSUER,
        "encoded_list": SPEC_EMPTY_LIST,
        "valid_from": A_YEAR_AGO,
    }
    arguments.update(kwargs)
    with pytest.raises(error):
        status_list_credential(**arguments)


# --------------------------------------------------------------------------
# Checking a status
# --------------------------------------------------------------------------


def test_the_spec_examples_check_as_not_revoked() -> None:
    result = check_status(SPEC_ENTRY, SPEC_LIST_CREDENTIAL, now=NOW)
    assert result == StatusCheck(
        ok=True,
        reason=(
            "This credential has not been revoked (entry 94567 of status list "
            "https://example.com/credentials/status/3)."
        ),
        is_set=False,
        purpose="revocation",
        index=94567,
        list_url="https://example.com/credentials/status/3",
    )
    assert result.valid
    assert result.error is None and result.error_type is None


def test_a_set_bit_means_revoked() -> None:
    bits = Bitstring.with_set([94567])
    result = check_status(status_entry(LIST_URL, 94567), list_credential(bits), now=NOW)
    assert result.ok
    assert result.is_set is True
    assert not result.valid
    assert "has been revoked" in result.reason
    assert "has not" not in result.reason


def test_neighbouring_bits_do_not_matter() -> None:
    bits = Bitstring.with_set([99, 101])
    result = check_status(status_entry(LIST_URL, 100), list_credential(bits), now=NOW)
    assert result.ok and result.is_set is False


@pytest.mark.parametrize("index", [0, MIN_BITS - 1])
def test_check_at_the_boundaries(index: int) -> None:
    bits = Bitstring.with_set([index])
    assert check_status(status_entry(LIST_URL, index), list_credential(bits), now=NOW).is_set


def test_suspension_reads_in_plain_words() -> None:
    bits = Bitstring.with_set([10])
    credential = list_credential(bits, purpose="suspension")
    suspended = check_status(status_entry(LIST_URL, 10, "suspension"), credential, now=NOW)
    assert suspended.is_set and "is suspended" in suspended.reason
    fine = check_status(status_entry(LIST_URL, 11, "suspension"), credential, now=NOW)
    assert fine.valid and "is not suspended" in fine.reason


def test_another_purpose_gets_a_generic_reason() -> None:
    credential = list_credential(Bitstring.with_set([3]), purpose="refresh")
    result = check_status(status_entry(LIST_URL, 3, "refresh"), credential, now=NOW)
    assert result.ok and result.is_set
    assert "'refresh' status of this credential is set" in result.reason


def test_a_list_with_several_purposes_serves_each() -> None:
    credential = list_credential(Bitstring.with_set([8]), purpose=["revocation", "suspension"])
    for purpose in ("revocation", "suspension"):
        assert check_status(status_entry(LIST_URL, 8, purpose), credential, now=NOW).is_set


def test_a_list_with_another_purpose_is_refused() -> None:
    credential = list_credential(Bitstring.with_set([8]), purpose="suspension")
    result = check_status(status_entry(LIST_URL, 8, "revocation"), credential, now=NOW)
    assert not result.ok
    assert result.is_set is None
    assert not result.valid
    assert result.error == "STATUS_VERIFICATION_ERROR"
    assert result.error_type == (
        "https://www.w3.org/ns/credentials/status-list#STATUS_VERIFICATION_ERROR"
    )
    assert "'revocation'" in result.reason and "'suspension'" in result.reason
    assert result.reason.startswith("The credential's status could not be checked")


def test_a_list_at_another_url_is_refused() -> None:
    entry = status_entry("https://badges.example.edu/status/2", 8)
    result = check_status(entry, list_credential(Bitstring.with_set([8])), now=NOW)
    assert not result.ok
    assert result.error == "STATUS_VERIFICATION_ERROR"
    assert "https://badges.example.edu/status/2" in result.reason
    assert LIST_URL in result.reason


def test_a_list_without_an_id_is_refused() -> None:
    credential = list_credential(Bitstring())
    del credential["id"]
    result = check_status(status_entry(LIST_URL, 8), credential, now=NOW)
    assert result.error == "STATUS_VERIFICATION_ERROR"
    assert "without an id" in result.reason


def test_an_index_beyond_the_list_is_a_range_error() -> None:
    result = check_status(status_entry(LIST_URL, MIN_BITS), list_credential(Bitstring()), now=NOW)
    assert not result.ok
    assert result.error == "RANGE_ERROR"
    assert "outside the status list" in result.reason
    huge = dict(status_entry(LIST_URL, 0), statusListIndex="9" * 40)
    assert check_status(huge, list_credential(Bitstring()), now=NOW).error == "RANGE_ERROR"


def test_a_short_list_is_a_length_error() -> None:
    credential = list_credential(Bitstring())
    credential["credentialSubject"]["encodedList"] = multibase(gzip.compress(bytes(1024)))
    result = check_status(status_entry(LIST_URL, 5), credential, now=NOW)
    assert result.error == "STATUS_LIST_LENGTH_ERROR"
    assert "herd privacy" in result.reason


def test_an_expired_or_future_list_is_refused() -> None:
    entry = status_entry(LIST_URL, 5)
    expired = list_credential(Bitstring(), validUntil="2025-05-31T00:00:00Z")
    result = check_status(entry, expired, now=NOW)
    assert result.error == "STATUS_VERIFICATION_ERROR"
    assert "expired" in result.reason
    future = list_credential(Bitstring(), validFrom="2026-01-01T00:00:00Z")
    assert "not valid yet" in check_status(entry, future, now=NOW).reason
    current = list_credential(Bitstring(), validUntil="2025-06-01T12:00:00Z")
    assert check_status(entry, current, now=NOW).ok  # the last instant still counts


def test_check_status_uses_the_current_time_by_default() -> None:
    assert check_status(SPEC_ENTRY, SPEC_LIST_CREDENTIAL).ok
    with pytest.raises(ValueError, match="timezone-aware"):
        check_status(SPEC_ENTRY, SPEC_LIST_CREDENTIAL, now=datetime(2025, 1, 1))


def _entry_with(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = dict(status_entry(LIST_URL, 5))
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (None, "must be an object"),
        ([], "must be an object"),
        (_entry_with(type="StatusList2021Entry"), "not a BitstringStatusListEntry"),
        (_entry_with(type=None), "not a BitstringStatusListEntry"),
        (_entry_with(statusPurpose=None), "no statusPurpose"),
        (_entry_with(statusListIndex=5), "base-10 string"),
        (_entry_with(statusListIndex="-5"), "base-10 string"),
        (_entry_with(statusListIndex="0x5"), "base-10 string"),
        (_entry_with(statusListIndex="\u0665"), "base-10 string"),  # Arabic-Indic five
        (_entry_with(statusListIndex=""), "base-10 string"),
        (_entry_with(statusListCredential=None), "no statusListCredential"),
        (_entry_with(id=LIST_URL), "must not be the status list's URL"),
        (_entry_with(statusSize=0), "positive integer"),
    ],
)
def test_a_malformed_entry_is_reported(entry: Any, words: str) -> None:
    result = check_status(entry, list_credential(Bitstring()), now=NOW)
    assert not result.ok
    assert result.error == "MALFORMED_VALUE_ERROR"
    assert words in result.reason


def test_multi_bit_statuses_are_reported_as_unsupported() -> None:
    entry = _entry_with(statusSize=2)
    result = check_status(entry, list_credential(Bitstring()), now=NOW)
    assert not result.ok
    assert "only 1-bit statuses" in result.reason


def test_a_list_entry_type_may_be_an_array() -> None:
    entry = _entry_with(type=["BitstringStatusListEntry"])
    assert check_status(entry, list_credential(Bitstring()), now=NOW).ok


def _list_with(path: str, value: Any) -> dict[str, Any]:
    credential = list_credential(Bitstring())
    target = credential
    *parents, key = path.split(".")
    for parent in parents:
        target = target[parent]
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value
    return credential


@pytest.mark.parametrize(
    ("credential", "words"),
    [
        (None, "must be an object"),
        (_list_with("@context", ["https://www.w3.org/2018/credentials/v1"]), "@context"),
        (_list_with("@context", None), "@context"),
        (_list_with("type", ["VerifiableCredential"]), "BitstringStatusListCredential"),
        (_list_with("type", "BitstringStatusListCredential"), "VerifiableCredential"),
        (_list_with("credentialSubject", None), "one credentialSubject"),
        (_list_with("credentialSubject", [{}, {}]), "one credentialSubject"),
        (_list_with("credentialSubject.type", "StatusList2021"), "BitstringStatusList"),
        (_list_with("credentialSubject.statusPurpose", None), "one or more strings"),
        (_list_with("credentialSubject.statusPurpose", []), "one or more strings"),
        (_list_with("credentialSubject.statusPurpose", [1]), "one or more strings"),
        (_list_with("credentialSubject.encodedList", None), "no encodedList"),
        (_list_with("credentialSubject.encodedList", "zABC"), "multibase prefix"),
        (_list_with("credentialSubject.encodedList", "uAAAA"), "not GZIP"),
        (_list_with("validFrom", "not a date"), "not a valid date-time"),
        (_list_with("validFrom", "2025-01-01T00:00:00"), "time zone"),
        (_list_with("validUntil", 20260101), "date-time string"),
    ],
)
def test_a_malformed_list_credential_is_reported(credential: Any, words: str) -> None:
    result = check_status(status_entry(LIST_URL, 5), credential, now=NOW)
    assert not result.ok
    assert result.error == "MALFORMED_VALUE_ERROR"
    assert words in result.reason


def test_a_subject_given_as_a_one_item_array_is_read() -> None:
    credential = list_credential(Bitstring.with_set([5]))
    credential["credentialSubject"] = [credential["credentialSubject"]]
    assert check_status(status_entry(LIST_URL, 5), credential, now=NOW).is_set


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(json_values, json_values)
def test_property_check_status_never_raises_on_arbitrary_json(entry: Any, credential: Any) -> None:
    result = check_status(entry, credential, now=NOW)
    assert not result.ok
    assert result.error is not None
    assert result.reason
