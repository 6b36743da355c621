"""Licensure transcripts: per-state credit rules, sharing, and signed exports.

A transcript lists an educator's badges, each verified afresh (proof, key, status
list, expiry), and converts the PD hours of the valid ones into the unit of a
state's credit rule (``credit_rules.yaml``), printing the rule it used. Revoked,
expired or otherwise invalid badges are listed apart, with the reason, and never
counted.

Who may see it: the educator; administrators; a state verifier whose organization
is in the educator's licence state, once the educator has shared with that state;
anyone holding an unexpired, unrevoked share link. Everyone else is told "not
found", so a lookup never reveals that an educator exists.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml
from flask import current_app
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)
from sqlalchemy import func, select

from accounts.models import Role, User
from accounts.policy import is_admin
from accounts.schemas import US_STATES
from badges import certificates, dataintegrity, issuers, pdf, services
from badges.credential import OB_CONTEXT, VC_CONTEXT, identity_objects, iso
from badges.models import Badge
from badges.transcript_models import TranscriptLink, TranscriptShare
from badges.verification import verify_credential
from core import audit
from core.csvsafe import neutralise_formula
from core.db_types import utcnow
from core.errors import InvalidError, NotFoundError
from core.extensions import db

RULES_FILE = Path(__file__).with_name("credit_rules.yaml")
CLR_CONTEXT = "https://purl.imsglobal.org/spec/clr/v2p0/context-2.0.1.json"
PDF_TEMPLATE = "badges/transcript_pdf.html"
CLR_FILENAME = "transcript-clr.json"
CSV_FILENAME = "transcript.csv"
MAX_LINK_DAYS = 365
MAX_TOKEN_LENGTH = 100
NOT_FOUND = "No shared transcript matches. Check the licence number and state."
CENT = Decimal("0.01")
TIMES = "\N{MULTIPLICATION SIGN}"


# --- credit rules ------------------------------------------------------------------


class CreditRulesError(RuntimeError):
    """The credit rules file does not validate; the message names the fields."""


def amount_text(value: Decimal) -> str:
    """15 → "15", 1.50 → "1.5"."""
    return f"{value.quantize(CENT, ROUND_HALF_UP).normalize():f}"


def hours_text(hours: Decimal) -> str:
    return f"{amount_text(hours)} PD {'hour' if hours == 1 else 'hours'}"


@dataclass(frozen=True)
class CreditRule:
    state: str
    name: str
    unit: str
    unit_plural: str
    basis: str  # "credential" or "hours"
    per_credential: Decimal | None
    per_hour: Decimal | None
    cap_per_cycle: Decimal | None
    renewal: str | None
    credit_granting_body: str
    uncertain: bool
    note: str
    source: str

    def units(self, amount: Decimal) -> str:
        return f"{amount_text(amount)} {self.unit if amount == 1 else self.unit_plural}"

    def _by_credential(self) -> str:
        assert self.per_credential is not None
        return f"1 micro-credential = {self.units(self.per_credential)}"

    def _by_hours(self) -> str:
        assert self.per_hour is not None
        if self.per_hour < 1 and (1 / self.per_hour) == (1 / self.per_hour).to_integral_value():
            return f"{hours_text(1 / self.per_hour)} = 1 {self.unit}"
        return f"1 PD hour = {self.units(self.per_hour)}"

    @property
    def rule_text(self) -> str:
        return self._by_credential() if self.basis == "credential" else self._by_hours()

    @property
    def alternative_rule_text(self) -> str | None:
        if self.per_credential is None or self.per_hour is None:
            return None
        return self._by_hours() if self.basis == "credential" else self._by_credential()

    def _hours_credit(self, hours: Decimal) -> Decimal:
        assert self.per_hour is not None
        return (hours * self.per_hour).quantize(CENT, ROUND_HALF_UP)

    def _hours_sum(self, hours: Decimal) -> str:
        assert self.per_hour is not None
        return f"{hours_text(hours)} {TIMES} {amount_text(self.per_hour)} = " + self.units(
            self._hours_credit(hours)
        )

    def credit(self, hours: Decimal, kind: str) -> Decimal:
        if kind != "micro_credential":  # a stack's members carry its credit
            return Decimal(0)
        if self.basis == "credential":
            assert self.per_credential is not None
            return self.per_credential
        return self._hours_credit(hours)

    def conversion(self, hours: Decimal, kind: str) -> str:
        """The arithmetic a verifier can check by eye."""
        if kind != "micro_credential":
            return "A stack: its micro-credentials are counted, not the stack."
        if self.basis == "credential":
            return self._by_credential()
        return self._hours_sum(hours)

    def alternative(self, hours: Decimal, kind: str) -> str | None:
        """The other factor, when the rule gives both (the office may apply either)."""
        if kind != "micro_credential" or self.alternative_rule_text is None:
            return None
        if self.basis == "credential":
            return f"By time: {self._hours_sum(hours)}"
        return f"By credential: {self._by_credential()}"


class CreditRuleSchema(Schema):
    state = fields.String(required=True, validate=validate.OneOf(US_STATES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    unit = fields.String(required=True, validate=validate.Length(min=1, max=40))
    unit_plural = fields.String(required=True, validate=validate.Length(min=1, max=40))
    per_credential = fields.Decimal(
        load_default=None, validate=validate.Range(min=0, min_inclusive=False)
    )
    per_hour = fields.Decimal(
        load_default=None, validate=validate.Range(min=0, min_inclusive=False)
    )
    basis = fields.String(load_default=None, validate=validate.OneOf(["credential", "hours"]))
    cap_per_cycle = fields.Decimal(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )
    renewal = fields.String(load_default=None)
    credit_granting_body = fields.String(required=True, validate=validate.Length(min=1))
    uncertain = fields.Boolean(required=True)
    note = fields.String(required=True, validate=validate.Length(min=1))
    source = fields.String(required=True, validate=validate.Length(min=1))

    @validates_schema
    def _factors(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = {
            "credential": data.get("per_credential") is not None,
            "hours": data.get("per_hour") is not None,
        }
        if not any(given.values()):
            raise ValidationError("Give per_credential, per_hour or both.", "per_credential")
        basis = data.get("basis")
        if basis is None and all(given.values()):
            raise ValidationError("Both factors are given: say which counts.", "basis")
        if basis is not None and not given[basis]:
            raise ValidationError(f"basis {basis!r} needs its factor.", "basis")

    @post_load
    def _rule(self, data: dict[str, Any], **_kwargs: Any) -> CreditRule:
        basis = data["basis"] or ("credential" if data["per_credential"] is not None else "hours")
        return CreditRule(**{**data, "basis": basis})


class CreditRulesSchema(Schema):
    jurisdictions = fields.List(
        fields.Nested(CreditRuleSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _one_rule_per_state(self, data: dict[str, Any], **_kwargs: Any) -> None:
        states = [rule.state for rule in data["jurisdictions"]]
        duplicates = sorted({state for state in states if states.count(state) > 1})
        if duplicates:
            raise ValidationError(f"One rule per state: {', '.join(duplicates)}.", "jurisdictions")


def read_rules(path: Path = RULES_FILE) -> dict[str, CreditRule]:
    """Every rule in ``path``, validated; raises CreditRulesError naming the fields."""
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    try:
        loaded = CreditRulesSchema().load(raw)
    except ValidationError as exc:
        raise CreditRulesError(f"{path.name}: {exc.messages}") from exc
    return {rule.state: rule for rule in loaded["jurisdictions"]}


@functools.cache
def credit_rules() -> dict[str, CreditRule]:
    return read_rules()


def rule_for(state: str | None) -> CreditRule | None:
    return credit_rules().get((state or "").upper())


# --- the transcript ----------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    badge_id: str
    title: str
    code: str
    kind: str
    version: str
    issued_on: date
    expires_on: date | None
    hours: Decimal
    credit: Decimal | None  # None when the state has no rule
    conversion: str | None
    alternative: str | None
    verification_url: str
    status: str  # "valid", "revoked", "expired" or "not valid"
    reason: str
    rejection_code: str | None = None


@dataclass(frozen=True)
class Transcript:
    teacher_id: int
    name: str
    license_number: str | None
    license_state: str | None
    rule: CreditRule | None
    issuer_name: str
    generated_at: datetime
    lines: list[TranscriptLine] = field(default_factory=list)
    excluded: list[TranscriptLine] = field(default_factory=list)

    @property
    def total_hours(self) -> Decimal:
        return sum((line.hours for line in self.lines), Decimal(0))

    @property
    def total_credit(self) -> Decimal | None:
        if self.rule is None:
            return None
        return sum((line.credit or Decimal(0) for line in self.lines), Decimal(0))

    @property
    def counted_credit(self) -> Decimal | None:
        """The total after the rule's cap per renewal cycle, if it has one."""
        total = self.total_credit
        if total is None or self.rule is None or self.rule.cap_per_cycle is None:
            return total
        return min(total, self.rule.cap_per_cycle)

    @property
    def cap_applied(self) -> bool:
        return self.counted_credit != self.total_credit

    @property
    def totals_text(self) -> str:
        hours = hours_text(self.total_hours)
        if self.rule is None or self.counted_credit is None:
            return hours
        return f"{hours}; {self.rule.units(self.counted_credit)}"


def _status(report: Any) -> tuple[str, str, str | None]:
    if report.valid:
        return "valid", report.verdict, None
    failed = next(check for check in report.checks if not check.passed)
    status = {"REVOKED": "revoked", "EXPIRED": "expired"}.get(failed.code or "", "not valid")
    return status, failed.reason, failed.code


def _line(badge: Badge, rule: CreditRule | None, now: datetime) -> TranscriptLine:
    credential = services.credential_of(badge)
    report = verify_credential(credential, now=now)
    status, reason, code = _status(report)
    if status == "revoked" and badge.revoked_at is not None:
        reason = f"Revoked on {badge.revoked_at:%Y-%m-%d}. {reason}"
    # The hours the signature covers, not a database column anyone could edit.
    signed_hours = report.facts.get("hours") if report.valid else None
    hours = Decimal(str(signed_hours if isinstance(signed_hours, int | float) else badge.hours))
    achievement = (credential.get("credentialSubject") or {}).get("achievement") or {}
    return TranscriptLine(
        badge_id=badge.id,
        title=badge.title,
        code=badge.competency_code,
        kind=badge.kind,
        version=str(achievement.get("version") or ""),
        issued_on=badge.issued_at.date(),
        expires_on=badge.valid_until.date() if badge.valid_until else None,
        hours=hours,
        credit=rule.credit(hours, badge.kind) if rule else None,
        conversion=rule.conversion(hours, badge.kind) if rule else None,
        alternative=rule.alternative(hours, badge.kind) if rule else None,
        verification_url=services.badge_url(badge.id),
        status=status,
        reason=reason,
        rejection_code=code,
    )


def build_transcript(teacher: User, *, now: datetime | None = None) -> Transcript:
    """The educator's transcript under the credit rule of their licence state."""
    now = now or utcnow()
    rule = rule_for(teacher.license_state)
    badges = sorted(services.badges_of(teacher), key=lambda b: (b.issued_at, b.id))
    lines = [_line(badge, rule, now) for badge in badges]
    return Transcript(
        teacher_id=teacher.id,
        name=teacher.name,
        license_number=teacher.license_number,
        license_state=teacher.license_state,
        rule=rule,
        issuer_name=issuers.ensure_default_issuer().name,
        generated_at=now,
        lines=[line for line in lines if line.status == "valid"],
        excluded=[line for line in lines if line.status != "valid"],
    )


# --- who may see it ----------------------------------------------------------------


def verifier_state(user: User) -> str | None:
    """The state a verifier acts for: their organization's; none means no access."""
    if not user.has_role(Role.STATE_VERIFIER) or user.organization is None:
        return None
    return (user.organization.us_state or "").upper() or None


def active_share(teacher: User, state: str) -> TranscriptShare | None:
    return db.session.scalar(
        select(TranscriptShare)
        .where(
            TranscriptShare.teacher_id == teacher.id,
            TranscriptShare.us_state == state,
            TranscriptShare.revoked_at.is_(None),
        )
        .order_by(TranscriptShare.id.desc())
        .limit(1)
    )


def may_view(viewer: User, teacher: User) -> bool:
    if viewer.id == teacher.id or is_admin(viewer):
        return True
    state = verifier_state(viewer)
    return (
        state is not None
        and teacher.license_state == state
        and active_share(teacher, state) is not None
    )


def educator_for(viewer: User, teacher_id: int) -> User:
    teacher = db.session.get(User, teacher_id)
    if teacher is None or not may_view(viewer, teacher):
        raise NotFoundError(NOT_FOUND)
    return teacher


def find_licensees(viewer: User, license_number: str, state: str) -> list[User]:
    """Educators with this licence number in ``state`` whom ``viewer`` may see."""
    state, number = state.strip().upper(), license_number.strip().upper()
    if not state or not number:
        return []
    query = select(User).where(
        User.license_state == state, func.upper(User.license_number) == number
    )
    if not is_admin(viewer):
        if verifier_state(viewer) != state:
            return []
        shared = select(TranscriptShare.teacher_id).where(
            TranscriptShare.us_state == state, TranscriptShare.revoked_at.is_(None)
        )
        query = query.where(User.id.in_(shared))
    return list(db.session.scalars(query.order_by(User.id)))


# --- sharing -----------------------------------------------------------------------


def share_with_state(teacher: User) -> TranscriptShare:
    """Let verifiers of the educator's licence state look the transcript up (idempotent)."""
    if not teacher.license_state or not teacher.license_number:
        raise InvalidError(
            "Add your licence number and state under My account first: "
            "the state's verifiers look you up by them.",
            {"license_number": ["Required to share with your state."]},
        )
    existing = active_share(teacher, teacher.license_state)
    if existing is not None:
        return existing
    share = TranscriptShare(teacher_id=teacher.id, us_state=teacher.license_state)
    db.session.add(share)
    db.session.flush()
    audit.record(
        "transcript.shared",
        "transcript_share",
        share.id,
        actor_id=teacher.id,
        after={"state": share.us_state},
    )
    return share


def stop_sharing(teacher: User) -> int:
    """End every share with a state; return how many ended."""
    shares = db.session.scalars(
        select(TranscriptShare).where(
            TranscriptShare.teacher_id == teacher.id, TranscriptShare.revoked_at.is_(None)
        )
    ).all()
    now = utcnow()
    for share in shares:
        share.revoked_at = now
        audit.record(
            "transcript.unshared",
            "transcript_share",
            share.id,
            actor_id=teacher.id,
            after={"state": share.us_state},
        )
    return len(shares)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_url(token: str) -> str:
    return f"{issuers.public_base_url()}/transcripts/shared/{token}"


def create_link(
    teacher: User, *, expires_in_days: int | None, label: str | None = None
) -> tuple[TranscriptLink, str]:
    """A new share link; the token is returned once and only its hash is kept."""
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_LINK_DAYS:
        raise InvalidError(
            f"A link lasts between 1 and {MAX_LINK_DAYS} days, or until you revoke it.",
            {"expires_in_days": [f"Between 1 and {MAX_LINK_DAYS}."]},
        )
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link = TranscriptLink(
        teacher_id=teacher.id,
        token_hash=_token_digest(token),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    db.session.add(link)
    db.session.flush()
    audit.record(
        "transcript.link_created",
        "transcript_link",
        link.id,
        actor_id=teacher.id,
        after={"expires_at": link.expires_at.isoformat() if link.expires_at else None},
    )
    return link, token


def links_of(teacher: User) -> list[TranscriptLink]:
    return list(
        db.session.scalars(
            select(TranscriptLink)
            .where(TranscriptLink.teacher_id == teacher.id)
            .order_by(TranscriptLink.id.desc())
        )
    )


def revoke_link(teacher: User, link_id: int) -> TranscriptLink:
    link = db.session.get(TranscriptLink, link_id)
    if link is None or link.teacher_id != teacher.id:
        raise NotFoundError("No such link.")
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        audit.record("transcript.link_revoked", "transcript_link", link.id, actor_id=teacher.id)
    return link


def educator_for_token(token: str) -> User:
    """The educator behind a usable link; revoked, expired and unknown links are 404."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFoundError("This link does not work: it was revoked, it expired, or it is wrong.")
    link = db.session.scalar(
        select(TranscriptLink).where(TranscriptLink.token_hash == _token_digest(token))
    )
    if link is None or not link.usable(utcnow()):
        raise NotFoundError("This link does not work: it was revoked, it expired, or it is wrong.")
    return link.teacher


# --- exports -----------------------------------------------------------------------

CSV_COLUMNS = (
    "educator",
    "license_number",
    "license_state",
    "badge_id",
    "title",
    "code",
    "version",
    "issued_on",
    "expires_on",
    "pd_hours",
    "credit",
    "credit_unit",
    "conversion",
    "status",
    "reason",
    "verification_url",
)


def transcript_csv(transcript: Transcript) -> str:
    """One row per badge, valid first; every text cell is safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    unit = transcript.rule.unit_plural if transcript.rule else ""
    for line in [*transcript.lines, *transcript.excluded]:
        counted = line.status == "valid" and line.credit is not None
        row = (
            transcript.name,
            transcript.license_number or "",
            transcript.license_state or "",
            line.badge_id,
            line.title,
            line.code,
            line.version,
            line.issued_on.isoformat(),
            line.expires_on.isoformat() if line.expires_on else "",
            amount_text(line.hours),
            amount_text(line.credit) if counted and line.credit is not None else "",
            unit if counted else "",
            line.conversion or "",
            line.status,
            line.reason,
            line.verification_url,
        )
        writer.writerow([neutralise_formula(cell) for cell in row])
    return buffer.getvalue()


def transcript_clr(transcript: Transcript) -> dict[str, Any]:
    """A CLR 2.0 ``ClrCredential`` carrying the valid badges as issued, signed by
    the issuer (eddsa-rdfc-2022) as its statement of what it issued."""
    teacher = db.session.get(User, transcript.teacher_id)
    assert teacher is not None
    valid_ids = {line.badge_id for line in transcript.lines}
    credentials = [
        services.credential_of(badge)
        for badge in sorted(services.badges_of(teacher), key=lambda b: (b.issued_at, b.id))
        if badge.id in valid_ids
    ]
    if not credentials:
        raise InvalidError("There is no valid badge to put in a CLR transcript yet.")
    identifiers = identity_objects(teacher.email, secrets.token_hex(8), transcript.name)
    # The educator's existing licence, under extension identity types (DOMAIN.md §8).
    for identity_type, value in (
        ("ext:licenseNumber", transcript.license_number),
        ("ext:licenseState", transcript.license_state),
    ):
        if value:
            identifiers.append(
                {
                    "type": "IdentityObject",
                    "identityHash": value,
                    "identityType": identity_type,
                    "hashed": False,
                }
            )
    issuer = issuers.ensure_default_issuer()
    key = issuers.active_key(issuer) or issuers.add_key(issuer)
    issued_at = utcnow().replace(microsecond=0)
    unsigned = {
        "@context": [VC_CONTEXT, CLR_CONTEXT, OB_CONTEXT],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "ClrCredential"],
        "issuer": issuers.profile(issuer),
        "validFrom": iso(issued_at),
        "name": f"Licensure transcript of {transcript.name}",
        "description": _clr_description(transcript),
        "credentialSubject": {
            "type": ["ClrSubject"],
            "identifier": identifiers,
            "achievement": [
                credential["credentialSubject"]["achievement"] for credential in credentials
            ],
            "verifiableCredential": credentials,
        },
    }
    return dataintegrity.sign(unsigned, issuers.secret_key(key), issuers.key_id(key), issued_at)


def _clr_description(transcript: Transcript) -> str:
    parts = [
        f"{len(transcript.lines)} valid badge(s), {transcript.totals_text}.",
    ]
    if transcript.rule is not None:
        parts.append(
            f"Converted under the {transcript.rule.name} rule: {transcript.rule.rule_text}."
        )
        if transcript.rule.uncertain:
            parts.append(transcript.rule.note)
    if transcript.excluded:
        parts.append(f"{len(transcript.excluded)} revoked, expired or invalid badge(s) left out.")
    return " ".join(parts)


def pdf_context(transcript: Transcript) -> dict[str, Any]:
    return {
        "transcript": transcript,
        "rule": transcript.rule,
        "amount_text": amount_text,
        "hours_text": hours_text,
        "document_title": f"Licensure transcript: {transcript.name}",
        "lang": "en",
    }


def transcript_pdf(transcript: Transcript) -> bytes:
    """The transcript as a tagged PDF, with the CSV and (when there is a valid badge)
    the signed CLR attached, signed as a whole by the issuer (PAdES)."""
    attachments: list[pdf.AttachmentSpec] = [
        (CSV_FILENAME, transcript_csv(transcript).encode(), "The transcript as CSV")
    ]
    if transcript.lines:
        clr = json.dumps(transcript_clr(transcript), indent=2, ensure_ascii=False)
        attachments.append((CLR_FILENAME, clr.encode(), "Signed CLR 2.0 transcript"))
    context = pdf_context(transcript)
    html = current_app.jinja_env.get_template(PDF_TEMPLATE).render(context)
    document = pdf.render_pdf(
        html,
        base_url=current_app.static_folder or ".",
        attachments=attachments,
        title=context["document_title"],
        lang="en",
    )
    issuer = issuers.ensure_default_issuer()
    identity = certificates.signing_identity(issuer)
    return pdf.sign_pdf(
        document,
        key=identity.key,
        cert=identity.cert,
        chain=identity.chain,
        reason=f"Transcript of the badges {issuer.name} issued to {transcript.name}",
        location=issuers.public_base_url(),
        signer_name=issuer.name,
    )
