"""Verification: one function behind the page, the API and the CLI.

Each check is reported on its own with a reason, and the verdict is a sentence
a licensure officer can act on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from badges import dataintegrity, issuers, pdf, status
from badges.models import IssuerKey
from core.db_types import utcnow

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


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


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


def _format_check(document: Any) -> CheckResult:
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
    missing = [
        name
        for name in ("issuer", "credentialSubject", "validFrom", "proof")
        if name not in document
    ]
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
    resolved: dict[str, IssuerKey] = {}

    def resolve(method: str) -> Any:
        key, _reason = issuers.resolve_key(method)
        if key is None:
            return None
        resolved[method] = key
        return issuers.public_key(key)

    proof = dataintegrity.verify(document, resolve)
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
    report.checks.append(_issuer_check(document, method, resolved.get(method)))
    report.checks.append(_status_check(document))
    report.checks.append(_time_check(document, now))
    report.verdict = _verdict(report)
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
    created = _parse_time((document.get("proof") or {}).get("created"))
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
    valid_from = _parse_time(document.get("validFrom"))
    valid_until = _parse_time(document.get("validUntil"))
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
