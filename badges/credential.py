"""The Open Badges 3.0 ``OpenBadgeCredential`` for one earned competency.

Pure data shaping: the caller supplies the facts (from the decision, the
micro-credential version and its rubric), this module returns the unsigned
credential. Signing and storage happen in the services.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)


@dataclass(frozen=True)
class LevelFact:
    name: str
    score: float
    descriptor: str


@dataclass(frozen=True)
class CriterionFact:
    key: str
    title: str
    description: str | None
    levels: list[LevelFact]
    passing_level: str | None
    achieved_level: str


@dataclass(frozen=True)
class BadgeFacts:
    badge_url: str
    achievement_url: str
    image_url: str
    issuer: dict[str, Any]
    issued_at: datetime
    valid_until: datetime | None
    code: str
    version_label: str
    title: str
    summary: str
    competency: str
    key_method: str
    criteria_url: str
    hours: float
    tags: list[str]
    email: str
    email_salt: str
    name: str
    license_number: str | None
    alignments: list[dict[str, str]]
    rubric_id: str
    criteria: list[CriterionFact] = field(default_factory=list)
    achievement_type: str = "MicroCredential"


def iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A credential's date-time (``Z`` or an offset), or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def hashed_email(email: str, salt: str) -> str:
    """OB 3.0 identityHash: ``sha256$`` + hex of SHA-256(email + salt)."""
    return "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()


def identity_objects(email: str, salt: str, name: str) -> list[dict[str, Any]]:
    """How the subject is identified: a salted hash of the email, and the name."""
    return [
        {
            "type": "IdentityObject",
            "identityHash": hashed_email(email, salt),
            "identityType": "emailAddress",
            "hashed": True,
            "salt": salt,
        },
        {"type": "IdentityObject", "identityHash": name, "identityType": "name", "hashed": False},
    ]


def _level_id(facts: BadgeFacts, criterion: CriterionFact, level: str) -> str:
    return f"{facts.achievement_url}#rubric-{criterion.key}-{level.replace(' ', '-').lower()}"


def _result_description(facts: BadgeFacts, criterion: CriterionFact) -> dict[str, Any]:
    description: dict[str, Any] = {
        "id": f"{facts.achievement_url}#rubric-{criterion.key}",
        "type": ["ResultDescription"],
        "name": f"{criterion.key}. {criterion.title}",
        "resultType": "RubricCriterionLevel",
        "rubricCriterionLevel": [
            {
                "id": _level_id(facts, criterion, level.name),
                "type": ["RubricCriterionLevel"],
                "name": level.name,
                "description": level.descriptor,
                "points": f"{level.score:g}",
            }
            for level in criterion.levels
        ],
    }
    if criterion.passing_level:
        description["requiredLevel"] = _level_id(facts, criterion, criterion.passing_level)
    return description


def build_credential(facts: BadgeFacts, status: dict[str, Any]) -> dict[str, Any]:
    """The unsigned credential, ready for a DataIntegrityProof."""
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": identity_objects(facts.email, facts.email_salt, facts.name),
        "creditsEarned": facts.hours,
        "achievement": {
            "id": facts.achievement_url,
            "type": ["Achievement"],
            "achievementType": facts.achievement_type,
            "name": facts.title,
            "description": f"{facts.summary} Competency: {facts.competency}",
            "criteria": {
                "id": facts.criteria_url,
                "narrative": (
                    f"Earned by submitting classroom evidence for {facts.code} {facts.title} "
                    f"(key method: {facts.key_method}), scored blind by two trained reviewers "
                    "against the public rubric; every criterion reached the passing level."
                ),
            },
            "image": {"id": facts.image_url, "type": "Image", "caption": f"{facts.title} badge"},
            "creditsAvailable": facts.hours,
            "humanCode": facts.code,
            "version": facts.version_label,
            "tag": list(facts.tags),
            "alignment": [
                {
                    "type": ["Alignment"],
                    "targetName": alignment["name"],
                    "targetUrl": alignment["url"],
                    "targetDescription": alignment.get("description", alignment["name"]),
                    "targetFramework": alignment.get("framework", ""),
                    "targetCode": alignment["code"],
                    "targetType": "CFItem",
                }
                for alignment in facts.alignments
            ],
            "resultDescription": [_result_description(facts, c) for c in facts.criteria],
        },
        "result": [
            {
                "type": ["Result"],
                "resultDescription": f"{facts.achievement_url}#rubric-{criterion.key}",
                "achievedLevel": _level_id(facts, criterion, criterion.achieved_level),
                "status": "Completed",
            }
            for criterion in facts.criteria
        ],
    }
    if facts.license_number:
        subject["licenseNumber"] = facts.license_number
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": facts.badge_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": facts.issuer,
        "validFrom": iso(facts.issued_at),
        "name": facts.title,
        "credentialSubject": subject,
        "credentialStatus": status,
    }
    if facts.valid_until is not None:
        credential["validUntil"] = iso(facts.valid_until)
    return credential


@dataclass(frozen=True)
class StackFacts:
    badge_url: str
    achievement_url: str
    image_url: str
    issuer: dict[str, Any]
    issued_at: datetime
    code: str
    title: str
    summary: str
    competency: str
    members: list[dict[str, str]]  # {"code", "title", "url"} of the badges that earned it
    email: str
    email_salt: str
    name: str
    license_number: str | None


def build_stack_credential(facts: StackFacts, status: dict[str, Any]) -> dict[str, Any]:
    """A stacked credential: earned by its member badges, with no hours of its own
    (they are counted once, in the members)."""
    members = "; ".join(f"{m['code']} {m['title']} ({m['url']})" for m in facts.members)
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "identifier": identity_objects(facts.email, facts.email_salt, facts.name),
        "creditsEarned": 0,
        "achievement": {
            "id": facts.achievement_url,
            "type": ["Achievement"],
            "achievementType": "Certificate",
            "name": facts.title,
            "description": f"{facts.summary} Competency: {facts.competency}",
            "criteria": {
                "narrative": f"Awarded automatically for earning: {members}. Professional "
                "development hours are counted in those badges, not again here."
            },
            "image": {"id": facts.image_url, "type": "Image", "caption": f"{facts.title} badge"},
            "humanCode": facts.code,
        },
    }
    if facts.license_number:
        subject["licenseNumber"] = facts.license_number
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": facts.badge_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": facts.issuer,
        "validFrom": iso(facts.issued_at),
        "name": facts.title,
        "credentialSubject": subject,
        "credentialStatus": status,
    }
