"""Issuing badges: one signed Open Badges 3.0 credential per passed attempt."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defaultload, lazyload

from accounts.models import User
from badges import dataintegrity, issuers, status, vcjwt
from badges.credential import (
    BadgeFacts,
    CriterionFact,
    LevelFact,
    StackFacts,
    build_credential,
    build_stack_credential,
)
from badges.models import Badge, Issuer, IssuerKey
from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, InvalidError, NotFoundError
from core.extensions import db
from core.faults import fault_point
from core.mail import send_mail
from core.transactions import begin_write
from credentials.case import item_uri
from credentials.models import MicroCredential
from evidence.models import Submission, SubmissionStatus
from reviews.models import Decision
from rubrics.models import PassingRuleKind, RubricVersion


def badge_url(badge_id: str) -> str:
    return f"{issuers.public_base_url()}/badges/{badge_id}"


def get_badge(badge_id: str) -> Badge:
    try:
        uuid.UUID(badge_id)
    except ValueError as exc:
        raise NotFoundError("No badge has this id. Check it against the certificate.") from exc
    badge = db.session.get(Badge, badge_id)
    if badge is None:
        raise NotFoundError("No badge has this id. Check it against the certificate.")
    return badge


def badges_of(user: User) -> list[Badge]:
    return list(
        db.session.scalars(
            select(Badge).where(Badge.teacher_id == user.id).order_by(Badge.issued_at.desc())
        )
    )


def _facts(badge_id: str, submission: Submission, decision: Decision, issuer: Issuer) -> BadgeFacts:
    credential = submission.credential
    version = db.session.get(RubricVersion, decision.rubric_version_id)
    teacher = submission.teacher
    base = issuers.public_base_url()
    achievement_url = f"{base}/catalog/{credential.code}?version={credential.version}"
    criteria = [
        CriterionFact(
            key=criterion.key,
            title=criterion.title,
            description=criterion.description,
            levels=[
                LevelFact(level.name, level.score, level.descriptor) for level in criterion.levels
            ],
            passing_level=version.passing_level
            if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST
            else None,
            achieved_level=decision.final_levels[criterion.key]["level"],
        )
        for criterion in version.criteria
    ]
    alignments = [
        {
            "name": item.abbreviated or item.code,
            "url": item_uri(item),
            "code": item.code,
            "framework": item.framework.title,
            "description": item.statement,
        }
        for item in ([credential.competency_item] if credential.competency_item else [])
        + list(credential.alignments)
    ]
    issued_at = utcnow().replace(microsecond=0)
    return BadgeFacts(
        badge_url=badge_url(badge_id),
        achievement_url=achievement_url,
        image_url=f"{base}/badges/{badge_id}/image.svg",
        issuer=issuers.profile(issuer),
        issued_at=issued_at,
        valid_until=issued_at + timedelta(days=round(credential.validity_months * 30.44))
        if credential.validity_months
        else None,
        code=credential.code,
        version_label=credential.version_label,
        title=credential.title,
        summary=credential.summary,
        competency=credential.competency,
        key_method=credential.key_method,
        criteria_url=f"{base}/catalog/{credential.code}?version={credential.version}#rubric-title",
        hours=credential.pd_hours,
        tags=list(credential.tags),
        email=teacher.email,
        email_salt=secrets.token_hex(8),
        name=teacher.name,
        license_number=teacher.license_number,
        alignments=alignments,
        rubric_id=version.identifier,
        criteria=criteria,
    )


@dataclass
class Draft:
    """A badge about to be issued: everything but its signatures, not yet in the session."""

    badge: Badge
    unsigned: dict[str, Any]
    key: IssuerKey
    submission: Submission
    issuer: Issuer


def prepare_contexts() -> bool:
    """Process the JSON-LD contexts of the newest credential issued (with its proof),
    so that processes forked from this one (RQ work horses) sign and verify with
    them ready instead of processing them per job; False when nothing is issued yet."""
    credential_json = db.session.scalar(
        select(Badge.credential_json).order_by(Badge.issued_at.desc()).limit(1)
    )
    if credential_json is None:
        return False
    dataintegrity.canonicalize(json.loads(credential_json))
    return True


def new_badge_id() -> str:
    return str(uuid.uuid4())


def draft_for_submission(submission_id: int, badge_id: str | None = None) -> Badge | Draft | None:
    """The badge already issued for a passed attempt, or a draft of it with the id
    given (None: not passed)."""
    begin_write()  # the savepoint in complete() must not commit on its own (SQLite)
    submission = db.session.get(
        Submission,
        submission_id,
        # a badge needs neither the evidence nor the evidence parts
        options=[
            lazyload(Submission.items),
            defaultload(Submission.credential).lazyload(MicroCredential.evidence_parts),
        ],
    )
    if submission is None or submission.status != SubmissionStatus.PASSED:
        return None
    existing = _issued_for(submission)
    if existing is not None:
        return existing
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == submission_id))
    if decision is None or decision.outcome != "passed":
        return None
    issuer = issuers.ensure_default_issuer()
    key = issuers.active_key(issuer) or issuers.add_key(issuer)
    status_list = status.current_list(issuer)
    badge_id = badge_id or new_badge_id()
    facts = _facts(badge_id, submission, decision, issuer)
    index = status.allocate(status_list)
    badge = Badge(
        id=badge_id,
        teacher_id=submission.teacher_id,
        submission_id=submission.id,
        competency_code=submission.credential_code,
        credential_id=submission.credential_id,
        issuer_id=issuer.id,
        key_id=key.id,
        status_list_id=status_list.id,
        status_index=index,
        title=submission.credential.title,
        hours=submission.credential.pd_hours,
        issued_at=facts.issued_at,
        valid_until=facts.valid_until,
    )
    unsigned = build_credential(facts, status.entry(status_list, index))
    return Draft(badge=badge, unsigned=unsigned, key=key, submission=submission, issuer=issuer)


def complete(draft: Draft) -> Badge:
    """Sign the draft's credential and add its badge (idempotent: if another run of
    the job added one for the same attempt first, that one is returned)."""
    badge, submission = draft.badge, draft.submission
    badge.credential_json, badge.credential_jwt = _sign(draft.unsigned, draft.key, badge.issued_at)
    fault_point("badges.issue.after_sign")
    try:
        with db.session.begin_nested():
            db.session.add(badge)
    except IntegrityError:
        existing = _issued_for(submission)
        if existing is None:  # not a second run of the job: a status index taken meanwhile
            raise  # RQ retries the job
        return existing  # a second run of the job got here first
    audit.record(
        "badge.issued",
        "badge",
        badge.id,
        after={
            "submission": submission.id,
            "code": badge.competency_code,
            "key": draft.key.fragment,
            "status_index": badge.status_index,
        },
    )
    send_mail(
        submission.teacher.email,
        "badge_issued",
        user=submission.teacher,
        badge=badge,
        url=badge_url(badge.id),
    )
    return badge


def issue_for_submission(submission_id: int) -> Badge | None:
    """Issue the badge for a passed attempt (idempotent: one per attempt and competency)."""
    draft = draft_for_submission(submission_id)
    return complete(draft) if isinstance(draft, Draft) else draft


def _issued_for(submission: Submission) -> Badge | None:
    return db.session.scalar(
        select(Badge).where(
            Badge.submission_id == submission.id,
            Badge.competency_code == submission.credential_code,
        )
    )


def set_public(user: User, badge: Badge, public: bool) -> Badge:
    if badge.teacher_id != user.id:
        raise NotFoundError("No such badge.")
    badge.public = public
    audit.record(
        "badge.visibility_changed", "badge", badge.id, actor_id=user.id, after={"public": public}
    )
    return badge


def revoke(actor: User, badge: Badge, reason: str) -> Badge:
    if badge.revoked_at is not None:
        raise ConflictError("This badge is already revoked.")
    if not reason.strip():
        raise InvalidError(
            "Give the reason for revoking; the educator is told.", {"reason": ["Required."]}
        )
    badge.revoked_at = utcnow()
    badge.revocation_reason = reason.strip()
    status.set_revoked(badge.status_list, badge.status_index)
    audit.record(
        "badge.revoked",
        "badge",
        badge.id,
        actor_id=actor.id,
        after={"reason": badge.revocation_reason},
    )
    send_mail(badge.teacher.email, "badge_revoked", user=badge.teacher, badge=badge)
    return badge


def credential_of(badge: Badge) -> dict[str, Any]:
    return json.loads(badge.credential_json)


def _sign(unsigned: dict[str, Any], key: IssuerKey, issued_at: Any) -> tuple[str, str]:
    """Both forms of one credential: with its Data Integrity proof, and as a VC-JWT."""
    secret, kid = issuers.secret_key(key), issuers.key_id(key)
    signed = dataintegrity.sign(unsigned, secret, kid, issued_at)
    # 1EdTech's Open Badges 3.0 JSON Schema wants every collection as an array,
    # the proof included; Data Integrity reads a set of one proof the same way.
    signed["proof"] = [signed["proof"]]
    return json.dumps(signed, indent=2, ensure_ascii=False), vcjwt.encode(unsigned, secret, kid)


def issue_stacks(teacher: User) -> list[Badge]:
    """Award every stack whose rule the teacher's unrevoked badges now meet (idempotent)."""
    from credentials.services import list_stacks

    held = {
        b.competency_code: b
        for b in badges_of(teacher)
        if b.revoked_at is None and b.kind == "micro_credential"
    }
    already = {b.competency_code for b in badges_of(teacher) if b.kind == "stack"}
    made = []
    for stack in list_stacks():
        chosen = [code for code in stack.choose_from if code in held]
        if stack.code in already or any(code not in held for code in stack.required):
            continue
        if len(chosen) < stack.choose_count:
            continue
        members = [held[code] for code in [*stack.required, *chosen[: stack.choose_count]]]
        made.append(_issue_stack(teacher, stack, members))
    return made


def _issue_stack(teacher: User, stack: Any, members: list[Badge]) -> Badge:
    issuer = issuers.ensure_default_issuer()
    key = issuers.active_key(issuer) or issuers.add_key(issuer)
    status_list = status.current_list(issuer)
    badge_id = str(uuid.uuid4())
    base = issuers.public_base_url()
    issued_at = utcnow().replace(microsecond=0)
    facts = StackFacts(
        badge_url=badge_url(badge_id),
        achievement_url=f"{base}/catalog#stack-{stack.code}",
        image_url=f"{base}/badges/{badge_id}/image.svg",
        issuer=issuers.profile(issuer),
        issued_at=issued_at,
        code=stack.code,
        title=stack.title,
        summary=stack.summary,
        competency=stack.competency,
        members=[
            {"code": m.competency_code, "title": m.title, "url": badge_url(m.id)} for m in members
        ],
        email=teacher.email,
        email_salt=secrets.token_hex(8),
        name=teacher.name,
        license_number=teacher.license_number,
    )
    index = status.allocate(status_list)
    credential_json, credential_jwt = _sign(
        build_stack_credential(facts, status.entry(status_list, index)), key, issued_at
    )
    badge = Badge(
        id=badge_id,
        teacher_id=teacher.id,
        submission_id=None,
        competency_code=stack.code,
        kind="stack",
        issuer_id=issuer.id,
        key_id=key.id,
        status_list_id=status_list.id,
        status_index=index,
        title=stack.title,
        hours=0.0,
        issued_at=issued_at,
        credential_json=credential_json,
        credential_jwt=credential_jwt,
    )
    db.session.add(badge)
    db.session.flush()
    audit.record(
        "badge.issued",
        "badge",
        badge.id,
        after={"stack": stack.code, "members": [m.id for m in members]},
    )
    send_mail(teacher.email, "badge_issued", user=teacher, badge=badge, url=badge_url(badge.id))
    return badge
