"""Verification: one function behind the page, the API and the CLI.

Each check is reported on its own with a reason, and the verdict is a sentence
a licensure officer can act on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cachetools import LRUCache
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from badges import baking, dataintegrity, issuers, ob3schema, pdf, status, vcjwt
from badges.credential import parse_time
from badges.models import Badge, Issuer, IssuerKey, StatusList
from core.db_types import utcnow
from core.errors import InvalidError, NotFoundError
from core.extensions import db

REQUIRED_TYPES = {"VerifiableCredential", "OpenBadgeCredential"}


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    reason: str
    code: str | None = None  # a licensure rejection code when it failed


@dataclass
class Report:
    checks: list[CheckResult] = field(default_factory=list)
    verdict: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "verdict": self.verdict,
            "checks": [asdict(c) for c in self.checks],
            "facts": self.facts,
        }


def _facts(document: dict[str, Any]) -> dict[str, Any]:
    subject = document.get("credentialSubject") or {}
    achievement = subject.get("achievement") or {} if isinstance(subject, dict) else {}
    names = (
        [
            i.get("identityHash")
            for i in subject.get("identifier", [])
            if isinstance(i, dict) and i.get("identityType") == "name"
        ]
        if isinstance(subject, dict)
        else []
    )
    issuer = document.get("issuer") or {}
    return {
        "name": names[0] if names else None,
        "achievement": achievement.get("name") if isinstance(achievement, dict) else None,
        "code": achievement.get("humanCode") if isinstance(achievement, dict) else None,
        "hours": subject.get("creditsEarned") if isinstance(subject, dict) else None,
        "license_number": subject.get("licenseNumber") if isinstance(subject, dict) else None,
        "issued": document.get("validFrom"),
        "expires": document.get("validUntil"),
        "issuer": issuer.get("name") if isinstance(issuer, dict) else issuer,
    }


def _format_check(
    document: Any, required: tuple[str, ...] = ("issuer", "credentialSubject", "validFrom", "proof")
) -> CheckResult:
    if not isinstance(document, dict):
        return CheckResult(
            "format",
            False,
            "This is not a credential (a JSON object is expected).",
            "INSUFFICIENT_DOCUMENTATION",
        )
    types = (
        document.get("type") if isinstance(document.get("type"), list) else [document.get("type")]
    )
    missing = [name for name in required if name not in document]
    if not set(types) >= REQUIRED_TYPES or missing:
        detail = f" Missing: {', '.join(missing)}." if missing else ""
        return CheckResult(
            "format",
            False,
            "This is not an Open Badges 3.0 credential." + detail,
            "INSUFFICIENT_DOCUMENTATION",
        )
    return CheckResult("format", True, "An Open Badges 3.0 credential with the required fields.")


def verify_credential(document: Any, *, now: datetime | None = None) -> Report:
    """Check proof, key, issuer, revocation and expiry; report each separately."""
    now = now or utcnow()
    report = Report()
    fmt = _format_check(document)
    report.checks.append(fmt)
    if not fmt.passed:
        report.verdict = f"Not valid: {fmt.reason}"
        return report
    report.facts = _facts(document)
    report.checks.append(_schema_check(document))
    keys = _Keys()
    proof = _verify_proof(document, keys)
    method = proof.verification_method or ""
    if proof.undefined_terms:
        report.checks.append(
            CheckResult("proof", False, proof.safe_mode.reason, "SIGNATURE_INVALID")
        )
    elif proof.verified:
        report.checks.append(
            CheckResult("proof", True, "The signature is valid: nothing has changed since issue.")
        )
    else:
        failed = next(
            c
            for c in (
                proof.proof_well_formed,
                proof.cryptosuite_supported,
                proof.key_resolved,
                proof.signature_valid,
            )
            if not c.passed
        )
        reason = failed.reason
        if not proof.key_resolved.passed:
            reason = issuers.resolve_key(method)[1] or reason
        report.checks.append(CheckResult("proof", False, reason, "SIGNATURE_INVALID"))
    _finish(report, document, method, keys.found.get(method), now)
    return report


class _Keys:
    """Resolves verification methods to the keys this service publishes, keeping what it found."""

    def __init__(self) -> None:
        self.found: dict[str, IssuerKey] = {}

    def __call__(self, method: str) -> Ed25519PublicKey | None:
        key, _reason = issuers.resolve_key(method)
        if key is None:
            return None
        self.found[method] = key
        return issuers.public_key(key)


_PROOF_CACHE: LRUCache[str, dataintegrity.VerificationResult] = LRUCache(maxsize=4096)
_PROOF_CACHE_LOCK = threading.Lock()


def _verify_proof(document: dict[str, Any], keys: _Keys) -> dataintegrity.VerificationResult:
    """The Data Integrity check, remembered for a document already found valid.

    A valid proof over the same statements stays valid: the signature and the
    shipped contexts never change. What can change (a key reported compromised,
    an issuer no longer trusted, revocation, expiry) is checked afresh on every
    call by the other checks. Canonicalization is the cost this saves.
    """
    digest = hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    with _PROOF_CACHE_LOCK:
        cached = _PROOF_CACHE.get(digest)
    if cached is not None:
        keys(cached.verification_method or "")  # the issuer check needs today's key record
        return cached
    result = dataintegrity.verify(document, keys)
    if result.verified:
        with _PROOF_CACHE_LOCK:
            _PROOF_CACHE[digest] = result
    return result


def _finish(
    report: Report, document: dict[str, Any], method: str, key: IssuerKey | None, now: datetime
) -> None:
    """The checks every form of a credential shares once its signature is settled."""
    report.checks.append(_issuer_check(document, method, key))
    report.checks.append(_status_check(document))
    report.checks.append(_time_check(document, now))
    report.verdict = _verdict(report)


def _schema_check(document: dict[str, Any]) -> CheckResult:
    found = ob3schema.problems(document)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return CheckResult(
            "schema",
            False,
            f"It does not follow the Open Badges 3.0 JSON Schema: {found[0]}{more}.",
            "INSUFFICIENT_DOCUMENTATION",
        )
    return CheckResult("schema", True, "It follows the Open Badges 3.0 JSON Schema.")


def verify_jwt(token: str, *, now: datetime | None = None) -> Report:
    """The VC-JWT form: the JWS signature instead of the embedded proof, then the same checks."""
    now = now or utcnow()
    keys = _Keys()
    decoded = vcjwt.decode(token, keys)
    report = Report()
    fmt = _format_check(decoded.credential, ("issuer", "credentialSubject", "validFrom"))
    report.checks.append(fmt)
    if not fmt.passed:
        report.verdict = f"Not valid: {fmt.reason}"
        return report
    document = decoded.credential or {}
    report.facts = _facts(document)
    report.checks.append(_schema_check(document))
    try:
        undefined = dataintegrity.find_undefined_terms(document)
        reason = (
            "It uses terms its contexts do not define: " + ", ".join(undefined[:5]) + "."
            if undefined
            else None
        )
    except dataintegrity.DataIntegrityError as error:  # unknown context, bad JSON-LD
        reason = f"Its JSON-LD cannot be read: {error}."
    if reason:
        report.checks.append(CheckResult("proof", False, reason, "SIGNATURE_INVALID"))
    else:
        report.checks.append(
            CheckResult(
                "proof",
                decoded.signature_valid,
                decoded.reason,
                None if decoded.signature_valid else "SIGNATURE_INVALID",
            )
        )
    _finish(report, document, decoded.kid, keys.found.get(decoded.kid), now)
    return report


def verify_png(data: bytes, *, now: datetime | None = None) -> Report:
    """A baked badge image: the credential inside it, in either form."""
    try:
        baked = baking.extract_png(data)
    except ValueError as exc:
        raise InvalidError(str(exc), {"file": [str(exc)]}) from exc
    if baked is None:
        report = Report(
            checks=[
                CheckResult(
                    "format",
                    False,
                    "This image carries no badge credential (it is not a baked badge).",
                    "INSUFFICIENT_DOCUMENTATION",
                )
            ]
        )
        report.verdict = _verdict(report)
        return report
    return verify_text(baked, now=now)


def verify_text(text: str, *, now: datetime | None = None) -> Report:
    """A credential as text: a compact VC-JWT or the JSON credential."""
    if vcjwt.looks_like_jwt(text):
        return verify_jwt(text, now=now)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidError(
            "This is not a credential: send the JSON credential, a VC-JWT, a baked PNG "
            "or a certificate PDF.",
            {"file": ["Not a JSON credential, VC-JWT, baked PNG or certificate PDF."]},
        ) from exc
    if isinstance(document, dict) and "credential" in document and "proof" not in document:
        inner = document["credential"]
        return (
            verify_text(inner, now=now)
            if isinstance(inner, str)
            else verify_credential(inner, now=now)
        )
    return verify_credential(document, now=now)


def verify_bytes(data: bytes, *, now: datetime | None = None) -> Report:
    """Whatever a verifier uploads: a certificate PDF, a baked PNG, a VC-JWT or JSON."""
    if data.startswith(b"%PDF"):
        return verify_pdf(data, now=now)
    if baking.is_png(data):
        return verify_png(data, now=now)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidError(
            "This file is not a credential, a baked PNG or a certificate PDF.",
            {"file": ["Not a credential, a baked PNG or a certificate PDF."]},
        ) from exc
    return verify_text(text, now=now)


_BADGE_PATH = re.compile(
    r"/badges/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"(?:/(?:credential\.json|credential\.jwt|certificate\.pdf|image\.png|image\.svg))?/?"
)


def badge_id_from_url(url: str) -> str:
    """The badge id in one of this service's own badge URLs.

    Nothing is ever fetched: a URL is only a way of naming a badge this
    service issued, so a URL on any other host (or an internal address) is
    refused rather than requested.
    """
    own = urlsplit(issuers.public_base_url())
    try:
        given = urlsplit(url.strip())
        port_ok = given.port == own.port
    except ValueError:
        port_ok = False
        given = urlsplit("")
    prefix = own.path.rstrip("/")
    match = (
        _BADGE_PATH.fullmatch(given.path.lower()[len(prefix) :])
        if given.path.lower().startswith(prefix)
        else None
    )
    if (
        given.scheme.lower() not in ("http", "https")  # either: a proxy may add TLS
        or (given.hostname or "").lower() != (own.hostname or "").lower()
        or not port_ok
        or match is None
    ):
        message = (
            f"Only this service's own badge addresses ({issuers.public_base_url()}/badges/…) "
            "can be verified by URL. For a badge from elsewhere, upload its credential file."
        )
        raise InvalidError(message, {"url": [message]})
    return match.group("id")


_REPORT_CACHE: LRUCache[tuple[Any, ...], tuple[Report, datetime]] = LRUCache(maxsize=4096)
_REPORT_CACHE_LOCK = threading.Lock()
_REPORT_FRESH_FOR = timedelta(minutes=5)


def verify_badge(badge_id: str, *, now: datetime | None = None) -> Report:
    """A badge this service issued, by id: its credential exactly as stored.

    The stored credential never changes, so its report is remembered, keyed by
    everything else a check reads: the status list's version (bumped by every
    revocation), the signing key's compromise date and the issuer's trust. A
    revocation or a compromised key therefore shows on the very next request;
    expiry is honoured by never keeping a report past a date that would flip it.
    """
    badge_id = badge_id.strip().lower()
    state = db.session.execute(
        select(StatusList.version, IssuerKey.compromised_at, Issuer.trusted)
        .select_from(Badge)
        .join(StatusList, StatusList.id == Badge.status_list_id)
        .join(IssuerKey, IssuerKey.id == Badge.key_id)
        .join(Issuer, Issuer.id == IssuerKey.issuer_id)
        .where(Badge.id == badge_id)
    ).first()
    if state is None:
        raise NotFoundError("No badge has this id. Check it against the certificate.")
    moment = now or utcnow()
    key = (badge_id, state.version, state.compromised_at, state.trusted)
    if now is None:  # a report for another moment is never remembered
        with _REPORT_CACHE_LOCK:
            cached = _REPORT_CACHE.get(key)
        if cached is not None and moment < cached[1]:
            return copy.deepcopy(cached[0])
    stored = db.session.scalar(select(Badge.credential_json).where(Badge.id == badge_id))
    document = json.loads(stored or "null")
    if now is not None:
        return verify_credential(document, now=now)
    report = verify_credential(document, now=moment)
    flips = [
        when
        for when in (
            parse_time(document.get("validFrom")),
            parse_time(document.get("validUntil")),
        )
        if when is not None and when > moment
    ]
    with _REPORT_CACHE_LOCK:
        _REPORT_CACHE[key] = (copy.deepcopy(report), min([moment + _REPORT_FRESH_FOR, *flips]))
    return report


def _issuer_check(document: dict[str, Any], method: str, key: IssuerKey | None) -> CheckResult:
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if key is None:
        return CheckResult(
            "issuer",
            False,
            "The signing key is not one this service publishes.",
            "ISSUER_NOT_APPROVED",
        )
    if not method.startswith(f"{issuer_id}#"):
        return CheckResult(
            "issuer",
            False,
            "The key does not belong to the issuer named in the credential.",
            "SIGNATURE_INVALID",
        )
    if not key.issuer.trusted:
        return CheckResult(
            "issuer", False, f"{key.issuer.name} is not an approved issuer.", "ISSUER_NOT_APPROVED"
        )
    created = _signed_at(document)
    if key.compromised_at is not None and (created is None or created >= key.compromised_at):
        return CheckResult(
            "issuer",
            False,
            f"The key was reported compromised on {key.compromised_at:%Y-%m-%d}, "
            "before this badge was signed.",
            "SIGNATURE_INVALID",
        )
    return CheckResult(
        "issuer", True, f"Signed by {key.issuer.name} with its published key {key.fragment}."
    )


def _signed_at(document: dict[str, Any]) -> datetime | None:
    """When the credential was signed: its proof's ``created``, else (a VC-JWT) ``validFrom``."""
    proof = document.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    if isinstance(proof, dict):
        return parse_time(proof.get("created"))
    return parse_time(document.get("validFrom"))


def _status_check(document: dict[str, Any]) -> CheckResult:
    result = status.check(document.get("credentialStatus"))
    if result is None:
        return CheckResult(
            "revocation",
            False,
            "The revocation status cannot be checked with this service.",
            "INSUFFICIENT_DOCUMENTATION",
        )
    if not result.ok:  # the list could not be read or does not match the entry
        return CheckResult("revocation", False, result.reason, "INSUFFICIENT_DOCUMENTATION")
    if result.is_set:
        return CheckResult("revocation", False, "The issuer has revoked this badge.", "REVOKED")
    return CheckResult("revocation", True, "Not revoked.")


def _time_check(document: dict[str, Any], now: datetime) -> CheckResult:
    valid_from = parse_time(document.get("validFrom"))
    valid_until = parse_time(document.get("validUntil"))
    if valid_from is None:
        return CheckResult(
            "expiry", False, "The issue date cannot be read.", "INSUFFICIENT_DOCUMENTATION"
        )
    if valid_from > now:
        return CheckResult("expiry", False, f"Not valid before {valid_from:%Y-%m-%d}.", "EXPIRED")
    if valid_until is not None and valid_until <= now:
        return CheckResult(
            "expiry",
            False,
            f"Expired on {valid_until:%Y-%m-%d}. The educator can renew it.",
            "EXPIRED",
        )
    return CheckResult(
        "expiry",
        True,
        f"Valid until {valid_until:%Y-%m-%d}." if valid_until else "Does not expire.",
    )


def _verdict(report: Report) -> str:
    facts = report.facts
    if report.valid:
        issued = (facts.get("issued") or "")[:10]
        hours = facts.get("hours")
        hours_text = f", {hours:g} PD hours" if isinstance(hours, int | float) else ""
        return f"Valid: {facts.get('achievement')} issued to {facts.get('name')} on {issued}{hours_text}."
    failed = next(check for check in report.checks if not check.passed)
    return f"Not valid: {failed.reason}"


def verify_pdf(data: bytes, *, now: datetime | None = None) -> Report:
    """A certificate PDF: its signature, then the credential embedded in it."""
    from badges import certificates

    check = pdf.validate_pdf(data, trust_roots=certificates.trust_roots())
    problems = "; ".join(check.problems) or "The PDF is not signed."
    signature = CheckResult(
        "pdf_signature",
        check.ok,
        f"Signed by {check.signer_name}; nothing was changed or added after signing."
        if check.ok
        else problems,
        None if check.ok else "SIGNATURE_INVALID",
    )
    if check.credential_json is None:
        report = Report(
            checks=[
                signature,
                CheckResult(
                    "pdf_credential",
                    False,
                    "The PDF carries no credential.json.",
                    "INSUFFICIENT_DOCUMENTATION",
                ),
            ]
        )
        report.verdict = _verdict(report)
        return report
    try:
        embedded = json.loads(check.credential_json)
    except (UnicodeDecodeError, json.JSONDecodeError):
        embedded = None
    report = verify_credential(embedded, now=now)
    report.checks.insert(0, signature)
    report.verdict = _verdict(report)
    return report
