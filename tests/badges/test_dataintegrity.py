"""eddsa-rdfc-2022 Data Integrity proofs: W3C test vectors, Open Badges 3.0 round
trips, tampering, safe mode, offline contexts, and an independent JS verifier."""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import shutil
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from badges import dataintegrity, multikey
from badges.dataintegrity import (
    ContextNotAllowedError,
    DataIntegrityError,
    StaticDocumentLoader,
    UnsafeDocumentError,
    canonicalize,
    find_undefined_terms,
    sign,
    verify,
)

INTEROP_DIR = Path(__file__).with_name("interop")

# --- W3C "Data Integrity EdDSA Cryptosuites v1.0", test vectors for eddsa-rdfc-2022
# (w3c/vc-di-eddsa, TestVectors/keyPair.json, unsigned.json, eddsa-rdfc-2022/*).

W3C_PUBLIC_KEY = "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
W3C_SECRET_KEY = "z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq"
W3C_METHOD = f"did:key:{W3C_PUBLIC_KEY}#{W3C_PUBLIC_KEY}"
W3C_EXAMPLES_CONTEXT_URL = "https://www.w3.org/ns/credentials/examples/v2"
# The examples context as the VC 2.0 specification publishes it; the service
# does not ship it, so only these tests' loader serves it.
W3C_EXAMPLES_CONTEXT = {"@context": {"@vocab": "https://www.w3.org/ns/credentials/examples#"}}

W3C_UNSIGNED = {
    "@context": ["https://www.w3.org/ns/credentials/v2", W3C_EXAMPLES_CONTEXT_URL],
    "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
    "type": ["VerifiableCredential", "AlumniCredential"],
    "name": "Alumni Credential",
    "description": "A minimum viable example of an Alumni Credential.",
    "issuer": "https://vc.example/issuers/5678",
    "validFrom": "2023-01-01T00:00:00Z",
    "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
}
W3C_CREATED = datetime(2023, 2, 24, 23, 36, 38, tzinfo=UTC)
W3C_PROOF_CONFIG = {
    "type": "DataIntegrityProof",
    "cryptosuite": "eddsa-rdfc-2022",
    "created": "2023-02-24T23:36:38Z",
    "verificationMethod": W3C_METHOD,
    "proofPurpose": "assertionMethod",
    "@context": W3C_UNSIGNED["@context"],
}
W3C_CANONICAL_DOCUMENT = (
    '<did:example:abcdefgh> <https://www.w3.org/ns/credentials/examples#alumniOf> "The School of Examples" .\n'
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://www.w3.org/2018/credentials#VerifiableCredential> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://www.w3.org/ns/credentials/examples#AlumniCredential> .\n"
    '<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://schema.org/description> "A minimum viable example of an Alumni Credential." .\n'
    '<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://schema.org/name> "Alumni Credential" .\n'
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#credentialSubject> <did:example:abcdefgh> .\n"
    "<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#issuer> <https://vc.example/issuers/5678> .\n"
    '<urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33> <https://www.w3.org/2018/credentials#validFrom> "2023-01-01T00:00:00Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
)
W3C_DOCUMENT_HASH = "517744132ae165a5349155bef0bb0cf2258fff99dfe1dbd914b938d775a36017"
W3C_CANONICAL_PROOF_CONFIG = (
    '_:c14n0 <http://purl.org/dc/terms/created> "2023-02-24T23:36:38Z"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
    "_:c14n0 <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://w3id.org/security#DataIntegrityProof> .\n"
    '_:c14n0 <https://w3id.org/security#cryptosuite> "eddsa-rdfc-2022"^^<https://w3id.org/security#cryptosuiteString> .\n'
    "_:c14n0 <https://w3id.org/security#proofPurpose> <https://w3id.org/security#assertionMethod> .\n"
    f"_:c14n0 <https://w3id.org/security#verificationMethod> <{W3C_METHOD}> .\n"
)
W3C_PROOF_CONFIG_HASH = "bea7b7acfbad0126b135104024a5f1733e705108f42d59668b05c0c50004c6b0"
W3C_SIGNATURE_HEX = (
    "4d8e53c2d5b3f2a7891753eb16ca993325bdb0d3cfc5be1093d0a18426f5ef85"
    "78cadc0fd4b5f4dd0d1ce0aefd15ab120b7a894d0eb094ffda4e6553cd1ed50d"
)
W3C_PROOF_VALUE = (
    "z2YwC8z3ap7yx1nZYCg4L3j3ApHsF8kgPdSb5xoS1VR7vPG3F561B52hYnQF9iseabecm3ijx4K1FBTQsCZahKZme"
)
W3C_SIGNED = {
    **W3C_UNSIGNED,
    "proof": {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2023-02-24T23:36:38Z",
        "verificationMethod": W3C_METHOD,
        "proofPurpose": "assertionMethod",
        "proofValue": W3C_PROOF_VALUE,
    },
}

# --- Shipped contexts: SHA-256 of each file as shipped. The VC 2.0, Data
# Integrity v2 and Multikey files match the digests of the bytes their URLs
# serve; the others come from their publishers' repositories (Open Badges:
# 1EdTech/openbadges-specification) or npm package (did-context).
SHIPPED_CONTEXT_SHA256 = {
    "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json": "880f1902d4158f2f33ce06af41b90719977cd1ea337a9de2e41edb3ff5e543d6",
    "https://www.w3.org/ns/credentials/v2": "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
    "https://w3id.org/security/data-integrity/v2": "67f21e6e33a6c14e5ccfd2fc7865f7474fb71a04af7e94136cb399dfac8ae8f4",
    "https://w3id.org/security/multikey/v1": "ba2c182de2d92f7e47184bcca8fcf0beaee6d3986c527bf664c195bbc7c58597",
    "https://www.w3.org/ns/did/v1": "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "b077fa134d909d92c1dcd1c153f2af1b244aeb415967fdc1467d7fc5dd48ac10",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.1.json": "d582f3564282fb3b709136d28412e78e70b678b4dbc2f0221f67d84932748355",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.2.json": "00666ad080ba407687ed1846b7f5e7495f5019042b202a727de47c48a1755c53",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761",
}

ISSUER_ID = "https://microcred.example/issuers/state-educator-program"
KEY_ID = f"{ISSUER_ID}#key-1"
ISSUED_AT = datetime(2025, 3, 1, 12, 0, 5, 123456, tzinfo=UTC)


def rubric_levels(prefix: str, descriptions: bool) -> list[dict[str, Any]]:
    levels = []
    for points, name in enumerate(["Beginning", "Developing", "Proficient", "Exemplary"], 1):
        level = {
            "id": f"urn:uuid:{prefix}-{points:012d}",
            "type": ["RubricCriterionLevel"],
            "name": name,
            "level": name,
            "points": str(points),
        }
        if descriptions:
            level["description"] = f"{name} evidence for this criterion."
        levels.append(level)
    return levels


def open_badge_credential() -> dict[str, Any]:
    """An OpenBadgeCredential shaped like the ones the service issues."""
    design = "0a4c6e1e-1111-4a4a-9b9b"
    analysis = "0a4c6e1e-2222-4a4a-9b9b"
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": "urn:uuid:7d1f3c52-8a1e-4f0c-9a57-1b2c3d4e5f60",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Universal Design for Learning: Flexible Assessment",
        "issuer": {
            "id": ISSUER_ID,
            "type": ["Profile"],
            "name": "State Educator Micro-credential Program",
            "url": "https://microcred.example/",
        },
        "validFrom": "2025-03-01T12:00:00Z",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": "sha256$" + hashlib.sha256(b"teacher@example.org").hexdigest(),
                    "identityType": "emailAddress",
                    "hashed": True,
                }
            ],
            "achievement": {
                "id": "https://microcred.example/achievements/udl-flexible-assessment",
                "type": ["Achievement"],
                "achievementType": "MicroCredential",
                "name": "UDL: Flexible Assessment",
                "description": "Designs assessments with multiple means of action and expression.",
                "criteria": {
                    "narrative": "Submit a unit assessment plan and two samples of student work.\n"
                    "Two reviewers score each rubric criterion; a third adjudicates."
                },
                "alignment": [
                    {
                        "type": ["Alignment"],
                        "targetName": "Provide multiple means of action and expression",
                        "targetUrl": "https://case.example/ims/case/v1p0/CFItems/1f0b7a3e-2c4d-4e5f-8a9b-0c1d2e3f4a5b",
                        "targetDescription": "UDL Guideline 3",
                        "targetFramework": "UDL Guidelines 3.0",
                        "targetCode": "UDL-AE-3",
                        "targetType": "CFItem",
                    }
                ],
                "resultDescription": [
                    {
                        "id": f"urn:uuid:{design}-000000000001",
                        "type": ["ResultDescription"],
                        "name": "Assessment design",
                        "resultType": "RubricCriterionLevel",
                        "allowedValue": ["Beginning", "Developing", "Proficient", "Exemplary"],
                        "requiredLevel": f"urn:uuid:{design}-000000000003",
                        "rubricCriterionLevel": rubric_levels(design, descriptions=True),
                    },
                    {
                        "id": f"urn:uuid:{analysis}-000000000001",
                        "type": ["ResultDescription"],
                        "name": "Student work analysis",
                        "resultType": "RubricCriterionLevel",
                        "requiredLevel": f"urn:uuid:{analysis}-000000000003",
                        "rubricCriterionLevel": rubric_levels(analysis, descriptions=False),
                    },
                ],
                "creditsAvailable": 15,
            },
            "creditsEarned": 15,
            "licenseNumber": "EDU-2025-004217",
            "result": [
                {
                    "type": ["Result"],
                    "resultDescription": f"urn:uuid:{design}-000000000001",
                    "achievedLevel": f"urn:uuid:{design}-000000000003",
                    "status": "Completed",
                },
                {
                    "type": ["Result"],
                    "resultDescription": f"urn:uuid:{analysis}-000000000001",
                    "achievedLevel": f"urn:uuid:{analysis}-000000000004",
                    "status": "Completed",
                },
            ],
        },
    }


@pytest.fixture(scope="module")
def examples_loader() -> StaticDocumentLoader:
    return dataintegrity.shipped_document_loader().extended(
        {W3C_EXAMPLES_CONTEXT_URL: W3C_EXAMPLES_CONTEXT}
    )


@pytest.fixture(scope="module")
def key_pair() -> multikey.Ed25519KeyPair:
    return multikey.generate_key_pair()


@pytest.fixture(scope="module")
def signed_badge(key_pair: multikey.Ed25519KeyPair) -> dict[str, Any]:
    return sign(open_badge_credential(), key_pair.secret_key, KEY_ID, ISSUED_AT)


def resolver_for(key_pair: multikey.Ed25519KeyPair, method: str = KEY_ID):
    return lambda requested: key_pair.public_key if requested == method else None


def failed_checks(result: dataintegrity.VerificationResult) -> dict[str, str]:
    checks = {
        "proof_well_formed": result.proof_well_formed,
        "cryptosuite_supported": result.cryptosuite_supported,
        "key_resolved": result.key_resolved,
        "signature_valid": result.signature_valid,
        "safe_mode": result.safe_mode,
    }
    return {name: check.reason for name, check in checks.items() if not check.passed}


# --- Shipped contexts


def test_every_shipped_context_is_indexed_and_unchanged() -> None:
    index = json.loads((dataintegrity.CONTEXTS_DIR / "index.json").read_text())
    shipped = {path.name for path in dataintegrity.CONTEXTS_DIR.glob("*.json")} - {"index.json"}
    assert set(index.values()) == shipped
    digests = {
        url: hashlib.sha256((dataintegrity.CONTEXTS_DIR / name).read_bytes()).hexdigest()
        for url, name in index.items()
    }
    assert digests == SHIPPED_CONTEXT_SHA256


def test_unknown_context_is_refused_without_touching_the_network(
    monkeypatch: pytest.MonkeyPatch, key_pair: multikey.Ed25519KeyPair
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a context was fetched from the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    unknown = "https://contexts.example/unknown/v1"
    document = open_badge_credential()
    document["@context"].append(unknown)

    with pytest.raises(ContextNotAllowedError) as refused:
        canonicalize(document)
    assert refused.value.url == unknown
    with pytest.raises(ContextNotAllowedError):
        sign(document, key_pair.secret_key, KEY_ID, ISSUED_AT)

    document["proof"] = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2025-03-01T12:00:05Z",
        "verificationMethod": KEY_ID,
        "proofPurpose": "assertionMethod",
        "proofValue": multikey.multibase_encode(bytes(64)),
    }
    result = verify(document, resolver_for(key_pair))
    assert not result.verified
    assert unknown in result.signature_valid.reason
    assert unknown in result.safe_mode.reason


# --- Multikey


def test_w3c_key_pair_round_trips_as_multikey() -> None:
    secret_key = multikey.decode_secret_key(W3C_SECRET_KEY)
    assert multikey.encode_secret_key(secret_key) == W3C_SECRET_KEY
    assert multikey.encode_public_key(secret_key.public_key()) == W3C_PUBLIC_KEY
    public_key = multikey.decode_public_key(W3C_PUBLIC_KEY)
    assert multikey.encode_public_key(public_key) == W3C_PUBLIC_KEY


def test_generated_key_pair_round_trips(key_pair: multikey.Ed25519KeyPair) -> None:
    assert key_pair.public_multikey.startswith("z6Mk")
    restored = multikey.decode_secret_key(key_pair.secret_multikey)
    assert multikey.encode_public_key(restored.public_key()) == key_pair.public_multikey
    method = multikey.verification_method_document(KEY_ID, ISSUER_ID, key_pair.public_key)
    assert method["type"] == "Multikey"
    assert method["publicKeyMultibase"] == key_pair.public_multikey


@pytest.mark.parametrize(
    ("value", "decode"),
    [
        (W3C_SECRET_KEY, multikey.decode_public_key),  # a secret key is not a public key
        (W3C_PUBLIC_KEY, multikey.decode_secret_key),
        ("u7QE", multikey.decode_public_key),  # base64url, not base58-btc
        ("z6Mk0OIl", multikey.decode_public_key),  # not base58 characters
        (multikey.multibase_encode(b"\xed\x01" + bytes(31)), multikey.decode_public_key),
    ],
)
def test_malformed_multikeys_are_rejected(value: str, decode: Any) -> None:
    with pytest.raises(multikey.MultikeyError):
        decode(value)


def test_base58btc_keeps_leading_zero_bytes() -> None:
    for data in (b"", b"\0", b"\0\0\x01\xff", bytes(64), b"\xff" * 64):
        assert multikey.base58btc_decode(multikey.base58btc_encode(data)) == data


# --- W3C eddsa-rdfc-2022 test vectors


def test_w3c_vector_canonical_forms_and_hashes(examples_loader: StaticDocumentLoader) -> None:
    canonical_document = canonicalize(W3C_UNSIGNED, examples_loader)
    canonical_config = canonicalize(W3C_PROOF_CONFIG, examples_loader)

    assert canonical_document == W3C_CANONICAL_DOCUMENT
    assert hashlib.sha256(canonical_document.encode()).hexdigest() == W3C_DOCUMENT_HASH
    assert canonical_config == W3C_CANONICAL_PROOF_CONFIG
    assert hashlib.sha256(canonical_config.encode()).hexdigest() == W3C_PROOF_CONFIG_HASH


def test_w3c_vector_signature_is_reproduced(examples_loader: StaticDocumentLoader) -> None:
    secret_key = multikey.decode_secret_key(W3C_SECRET_KEY)

    signed = sign(W3C_UNSIGNED, secret_key, W3C_METHOD, W3C_CREATED, loader=examples_loader)

    assert signed == W3C_SIGNED
    assert multikey.multibase_decode(signed["proof"]["proofValue"]).hex() == W3C_SIGNATURE_HEX
    assert "proof" not in W3C_UNSIGNED


def test_w3c_vector_signed_credential_verifies(examples_loader: StaticDocumentLoader) -> None:
    public_key = multikey.decode_public_key(W3C_PUBLIC_KEY)

    result = verify(W3C_SIGNED, lambda method: public_key, loader=examples_loader)

    assert failed_checks(result) == {}
    assert result.verified
    assert result.verification_method == W3C_METHOD


def test_w3c_vector_with_proof_context_verifies(examples_loader: StaticDocumentLoader) -> None:
    """A proof may carry the document's @context (Data Integrity 1.0, 4.5)."""
    public_key = multikey.decode_public_key(W3C_PUBLIC_KEY)
    signed = copy.deepcopy(W3C_SIGNED)
    signed["proof"]["@context"] = W3C_UNSIGNED["@context"]

    assert verify(signed, lambda method: public_key, loader=examples_loader).verified

    signed["proof"]["@context"] = [W3C_EXAMPLES_CONTEXT_URL]
    result = verify(signed, lambda method: public_key, loader=examples_loader)
    assert "@context" in failed_checks(result)["proof_well_formed"]


# --- Open Badges 3.0 round trip


def test_open_badge_credential_defines_every_term() -> None:
    assert find_undefined_terms(open_badge_credential()) == []


def test_open_badge_credential_signs_and_verifies(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    proof = signed_badge["proof"]
    assert proof == {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2025-03-01T12:00:05Z",
        "verificationMethod": KEY_ID,
        "proofPurpose": "assertionMethod",
        "proofValue": proof["proofValue"],
    }
    assert {key: value for key, value in signed_badge.items() if key != "proof"} == (
        open_badge_credential()
    )

    result = verify(signed_badge, resolver_for(key_pair))

    assert failed_checks(result) == {}
    assert result.verified
    assert result.verification_method == KEY_ID


def test_signature_survives_a_json_round_trip(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    stored = json.dumps(signed_badge, indent=2, ensure_ascii=False)
    assert verify(json.loads(stored), resolver_for(key_pair)).verified


def test_sign_requires_timezone_aware_created(key_pair: multikey.Ed25519KeyPair) -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign(open_badge_credential(), key_pair.secret_key, KEY_ID, datetime(2025, 3, 1))


def test_sign_refuses_a_document_that_already_has_a_proof(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    with pytest.raises(dataintegrity.DataIntegrityError, match="proof"):
        sign(signed_badge, key_pair.secret_key, KEY_ID, ISSUED_AT)


# --- Tampering


def test_changed_name_breaks_the_signature(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    tampered = copy.deepcopy(signed_badge)
    tampered["credentialSubject"]["achievement"]["name"] = "UDL: Expert Assessment"

    result = verify(tampered, resolver_for(key_pair))

    assert not result.verified
    assert set(failed_checks(result)) == {"signature_valid"}


def test_changed_result_breaks_the_signature(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    tampered = copy.deepcopy(signed_badge)
    tampered["credentialSubject"]["creditsEarned"] = 45

    assert set(failed_checks(verify(tampered, resolver_for(key_pair)))) == {"signature_valid"}


def test_changed_proof_value_breaks_the_signature(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    tampered = copy.deepcopy(signed_badge)
    signature = bytearray(multikey.multibase_decode(tampered["proof"]["proofValue"]))
    signature[10] ^= 0x01
    tampered["proof"]["proofValue"] = multikey.multibase_encode(bytes(signature))

    assert set(failed_checks(verify(tampered, resolver_for(key_pair)))) == {"signature_valid"}


def test_changed_proof_options_break_the_signature(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    tampered = copy.deepcopy(signed_badge)
    tampered["proof"]["created"] = "2030-01-01T00:00:00Z"

    assert set(failed_checks(verify(tampered, resolver_for(key_pair)))) == {"signature_valid"}


def test_added_undefined_term_fails_safe_mode(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    """JSON-LD drops the term, so the signature still holds: only safe mode sees it."""
    tampered = copy.deepcopy(signed_badge)
    tampered["credentialSubject"]["endorsedByGovernor"] = True

    result = verify(tampered, resolver_for(key_pair))

    assert not result.verified
    assert result.signature_valid.passed
    assert set(failed_checks(result)) == {"safe_mode"}
    assert result.undefined_terms == ["endorsedByGovernor"]
    assert "endorsedByGovernor" in result.safe_mode.reason


def test_other_key_fails(signed_badge: dict[str, Any]) -> None:
    other = multikey.generate_key_pair()

    result = verify(signed_badge, resolver_for(other))

    assert set(failed_checks(result)) == {"signature_valid"}


def test_unpublished_key_is_reported(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    result = verify(signed_badge, resolver_for(key_pair, method=f"{ISSUER_ID}#key-2"))

    assert not result.verified
    assert set(failed_checks(result)) == {"key_resolved", "signature_valid", "safe_mode"}
    assert KEY_ID in result.key_resolved.reason


@pytest.mark.parametrize(
    ("change", "failing", "reason"),
    [
        (lambda d: d.pop("proof"), "proof_well_formed", "no proof"),
        (lambda d: d["proof"].update(type="Ed25519Signature2020"), "proof_well_formed", "type"),
        (lambda d: d["proof"].pop("proofValue"), "proof_well_formed", "proofValue"),
        (lambda d: d["proof"].update(proofValue="uAAAA"), "proof_well_formed", "proofValue"),
        (lambda d: d["proof"].update(proofValue="z3mJ"), "proof_well_formed", "64"),
        (lambda d: d["proof"].update(created="yesterday"), "proof_well_formed", "created"),
        (
            lambda d: d["proof"].update(proofPurpose="authentication"),
            "proof_well_formed",
            "purpose",
        ),
        (lambda d: d.update(proof=[d["proof"], d["proof"]]), "proof_well_formed", "one proof"),
        (
            lambda d: d["proof"].update(cryptosuite="ecdsa-rdfc-2019"),
            "cryptosuite_supported",
            "ecdsa-rdfc-2019",
        ),
    ],
)
def test_malformed_or_unsupported_proofs_are_reported(
    signed_badge: dict[str, Any],
    key_pair: multikey.Ed25519KeyPair,
    change: Any,
    failing: str,
    reason: str,
) -> None:
    document = copy.deepcopy(signed_badge)
    change(document)

    failures = failed_checks(verify(document, resolver_for(key_pair)))

    assert failing in failures
    assert reason in failures[failing]


def test_single_proof_in_a_list_verifies(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    document = {**signed_badge, "proof": [signed_badge["proof"]]}
    assert verify(document, resolver_for(key_pair)).verified


# --- Safe mode


@pytest.mark.parametrize(
    ("change", "undefined"),
    [
        (lambda d: d["credentialSubject"].update(creditEarned=15), ["creditEarned"]),
        (
            # Without its type the achievement loses the terms Achievement's context defines.
            lambda d: d["credentialSubject"]["achievement"].update(type=["Badge"]),
            ["achievementType", "creditsAvailable", "criteria", "resultDescription", "Badge"],
        ),
        (lambda d: d["credentialSubject"].update(id="teacher-42"), ["teacher-42"]),
        (
            lambda d: (
                d["@context"].append(
                    {"@vocab": "https://www.w3.org/ns/credentials/issuer-dependent#"}
                )
                or d.update(favouriteColour="teal")
            ),
            ["https://www.w3.org/ns/credentials/issuer-dependent#favouriteColour"],
        ),
    ],
)
def test_undefined_terms_are_found_and_refused_at_signing(
    change: Any, undefined: list[str], key_pair: multikey.Ed25519KeyPair
) -> None:
    document = open_badge_credential()
    change(document)

    assert find_undefined_terms(document) == undefined
    with pytest.raises(UnsafeDocumentError) as refused:
        sign(document, key_pair.secret_key, KEY_ID, ISSUED_AT)
    assert refused.value.undefined_terms == undefined


def test_the_scoped_context_cache_changes_no_expansion() -> None:
    """Our expander keeps type-scoped contexts as processed; across documents whose
    nodes change type it must expand exactly as pyld alone does, cold or warm."""
    from pyld import jsonld

    def retyped(document: dict[str, Any]) -> dict[str, Any]:
        document["credentialSubject"]["achievement"]["type"] = ["Badge"]
        return document

    def plain(document: dict[str, Any]) -> tuple[Any, list[str | None]]:
        fresh = StaticDocumentLoader.from_directory(dataintegrity.CONTEXTS_DIR)
        dropped: list[str | None] = []
        processor = jsonld.JsonLdProcessor(on_property_dropped=dropped.append)
        return processor.expand(copy.deepcopy(document), fresh.processing_options()), dropped

    def locally_extended(document: dict[str, Any]) -> dict[str, Any]:
        # the achievement's type-scoped context now applies on top of a different context
        document["credentialSubject"]["@context"] = {"favourite": "https://example.org/fav"}
        document["credentialSubject"]["achievement"]["favourite"] = "teal"
        return document

    signed = sign(
        open_badge_credential(), multikey.generate_key_pair().secret_key, KEY_ID, ISSUED_AT
    )
    documents = [
        open_badge_credential(),
        retyped(open_badge_credential()),
        signed,
        locally_extended(open_badge_credential()),
    ]
    loader = StaticDocumentLoader.from_directory(dataintegrity.CONTEXTS_DIR)
    for document in documents * 2:  # cold, then with every scoped context kept
        expected, dropped = plain(document)
        expanded, undefined = dataintegrity._expand(copy.deepcopy(document), loader)
        assert expanded == expected
        recorded = [term or "(a term mapped to null)" for term in dropped]
        iris = list(dataintegrity._undefined_iris(expected))
        assert undefined == list(dict.fromkeys(recorded + iris))
    assert len(loader.scoped_contexts) > 0  # the cache was used


def test_an_inline_context_that_imports_is_refused_and_leaves_later_documents_alone(
    signed_badge: dict[str, Any], key_pair: multikey.Ed25519KeyPair
) -> None:
    """pyld merges an inline context into its cached copy of the context it
    @imports: accepted, one document could change how every later one expands."""
    loader = StaticDocumentLoader(
        {"https://contexts.example/b": {"@context": {"p": "https://contexts.example/p"}}}
    )
    honest = {"@context": "https://contexts.example/b", "p": "1"}
    before = canonicalize(honest, loader)
    hostile = {
        "@context": [
            {"z": "https://contexts.example/z"},
            {"@import": "https://contexts.example/b", "p": "https://evil.example/p"},
        ],
        "p": "1",
    }
    with pytest.raises(DataIntegrityError, match="@import"):
        canonicalize(hostile, loader)
    for index in range(12):  # past pyld's own cache of processed contexts
        canonicalize(
            {"@context": [{f"k{index}": "https://contexts.example/k"}, honest["@context"]]}, loader
        )
    assert canonicalize(honest, loader) == before

    forged = copy.deepcopy(signed_badge)
    forged["@context"] = [*forged["@context"], {"@import": forged["@context"][0]}]
    result = verify(forged, resolver_for(key_pair))
    assert not result.verified
    assert any("@import" in reason for reason in failed_checks(result).values())


def test_a_context_named_by_text_is_served_only_if_shipped() -> None:
    """pyld keeps inline contexts in its cache under their JSON text, so a context
    given as that text would resolve only once another document had sent it inline:
    a string context is refused unless the loader ships it, whatever came before."""
    loader = StaticDocumentLoader.from_directory(dataintegrity.CONTEXTS_DIR)
    inline = {"favourite": "https://evil.example/favourite"}
    document = open_badge_credential()
    document["@context"] = [*document["@context"], inline]
    canonicalize(document, loader)  # an inline context is fine, and now in pyld's cache
    named = open_badge_credential()
    named["@context"] = [*named["@context"], json.dumps(inline)]
    for text in (json.dumps(inline), json.dumps(inline, separators=(",", ":"))):
        named["@context"][-1] = text
        with pytest.raises(ContextNotAllowedError):
            canonicalize(named, loader)


def test_a_document_nested_too_deeply_is_refused_not_crashed() -> None:
    document = open_badge_credential()
    deep: dict[str, Any] = {}
    document["credentialSubject"]["deep"] = deep
    for _ in range(5000):
        deep["x"] = {}
        deep = deep["x"]
    with pytest.raises(DataIntegrityError, match="nested too deeply"):
        canonicalize(document)


# --- Canonical form details that must match other implementations


def test_literals_follow_json_ld_and_rdf_canonical_escapes() -> None:
    loader = StaticDocumentLoader({})
    document = {
        "@context": {
            "text": "https://ex.org/text",
            "float": {
                "@id": "https://ex.org/float",
                "@type": "http://www.w3.org/2001/XMLSchema#float",
            },
            "number": "https://ex.org/number",
        },
        "@id": "https://ex.org/s",
        "text": [
            'tab\there\nnew line \u0001\u007f\b\f "quoted" \\ é',
            {"@value": "hi", "@language": "en-GB", "@direction": "ltr"},
        ],
        "float": [15, 1.5, 0.1],
        "number": [True, 12, 12.0, 2.5, 1e21],
    }

    lines = canonicalize(document, loader).splitlines()

    xsd = "http://www.w3.org/2001/XMLSchema#"
    subject = "<https://ex.org/s>"
    assert lines == sorted(
        [
            f'{subject} <https://ex.org/text> "tab\\there\\nnew line \\u0001\\u007F\\b\\f \\"quoted\\" \\\\ é" .',
            f'{subject} <https://ex.org/text> "hi"@en-gb .',
            f'{subject} <https://ex.org/float> "15"^^<{xsd}float> .',
            f'{subject} <https://ex.org/float> "1.5E0"^^<{xsd}float> .',
            f'{subject} <https://ex.org/float> "1.0E-1"^^<{xsd}float> .',
            f'{subject} <https://ex.org/number> "true"^^<{xsd}boolean> .',
            f'{subject} <https://ex.org/number> "12"^^<{xsd}integer> .',
            f'{subject} <https://ex.org/number> "2.5E0"^^<{xsd}double> .',
            f'{subject} <https://ex.org/number> "1.0E21"^^<{xsd}double> .',
        ]
    )


# --- Independent verifier: Digital Bazaar's JavaScript stack


def ensure_js_verifier() -> Path:
    """The independent verifier, its locked packages installed once (test processes
    running side by side wait for each other rather than install twice)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail(
            "Node.js and npm are needed for the independent verifier (apt-get install nodejs npm)"
        )
    with (INTEROP_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (INTEROP_DIR / "node_modules" / ".package-lock.json").is_file():
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP_DIR, check=True, timeout=600
            )
    return INTEROP_DIR / "verify.mjs"


@pytest.fixture(scope="module")
def js_verifier() -> Path:
    return ensure_js_verifier()


def js_verdict(
    js_verifier: Path, tmp_path: Path, document: dict[str, Any], public_multikey: str
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run(
        ["node", str(js_verifier), str(path), public_multikey],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


@pytest.mark.slow
def test_js_verifier_accepts_our_credential(
    js_verifier: Path,
    tmp_path: Path,
    signed_badge: dict[str, Any],
    key_pair: multikey.Ed25519KeyPair,
) -> None:
    status, verdict = js_verdict(js_verifier, tmp_path, signed_badge, key_pair.public_multikey)
    assert verdict == {"verified": True, "errors": []}
    assert status == 0


@pytest.mark.slow
def test_js_verifier_accepts_tricky_literals(
    js_verifier: Path, tmp_path: Path, key_pair: multikey.Ed25519KeyPair
) -> None:
    """Control characters, non-ASCII text and fractional numbers canonicalize alike."""
    document = open_badge_credential()
    achievement = document["credentialSubject"]["achievement"]
    achievement["criteria"]["narrative"] = (
        'Étape 1:\tplan\r\nÉtape 2: "evidence" \\ samples \u0001\u007f\b\f ✓ \U0001d49c'
    )
    achievement["creditsAvailable"] = 1.5
    document["credentialSubject"]["creditsEarned"] = 1.5
    signed = sign(document, key_pair.secret_key, KEY_ID, ISSUED_AT)

    status, verdict = js_verdict(js_verifier, tmp_path, signed, key_pair.public_multikey)

    assert verdict == {"verified": True, "errors": []}
    assert status == 0


@pytest.mark.slow
def test_js_verifier_rejects_tampered_credential(
    js_verifier: Path,
    tmp_path: Path,
    signed_badge: dict[str, Any],
    key_pair: multikey.Ed25519KeyPair,
) -> None:
    tampered = copy.deepcopy(signed_badge)
    tampered["credentialSubject"]["achievement"]["name"] = "UDL: Expert Assessment"

    status, verdict = js_verdict(js_verifier, tmp_path, tampered, key_pair.public_multikey)

    assert verdict["verified"] is False
    assert verdict["errors"]
    assert status == 1


@pytest.mark.slow
def test_js_verifier_rejects_a_different_key(
    js_verifier: Path, tmp_path: Path, signed_badge: dict[str, Any]
) -> None:
    other = multikey.generate_key_pair()

    status, verdict = js_verdict(js_verifier, tmp_path, signed_badge, other.public_multikey)

    assert verdict["verified"] is False
    assert status == 1
