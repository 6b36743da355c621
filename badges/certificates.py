"""Signed PDF certificates: rendered with WeasyPrint, signed (PAdES) by the issuer."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from cryptography import x509
from flask import current_app
from sqlalchemy import select

from accounts.models import User
from badges import issuers, pdf, pki, render_helper, services
from badges.models import Badge, Issuer, SigningCertificate
from badges.services import Draft
from core import audit
from core.extensions import db
from core.faults import fault_point
from core.storage import StagedFile, get_storage, new_staging_path
from credentials.models import MicroCredential

log = logging.getLogger(__name__)

CREDENTIAL_DESCRIPTION = "Signed Open Badges 3.0 credential"
#: Keys of the embedded mode's local CA and signing certificates: ECDSA P-256, which
#: PAdES, Acrobat, poppler and pyHanko all accept, made in a millisecond where an
#: RSA-3072 key takes a quarter of a second (production configures its certificates).
LOCAL_KEY_ALGORITHM: pki.KeyAlgorithm = "ecdsa-p256"
REVIEW_METHOD = "Blind double scoring against the public rubric, with adjudication of disagreements"


def _passphrase() -> str:
    return current_app.config.get("BADGE_KEY_SECRET") or current_app.config["SECRET_KEY"]


def _local_root() -> pki.CertificateAuthority:
    """The embedded mode's certificate authority (production configures real certificates)."""
    row = db.session.scalar(select(SigningCertificate).where(SigningCertificate.is_root.is_(True)))
    if row is None:
        ca = pki.create_root_ca(
            "Microcred local signing root",
            organization=current_app.config["ISSUER_NAME"],
            algorithm=LOCAL_KEY_ALGORITHM,
        )
        row = SigningCertificate(
            is_root=True,
            certificate_pem=ca.cert_pem().decode(),
            key_encrypted=pki.serialize_private_key(ca.key, _passphrase()),
        )
        db.session.add(row)
        db.session.flush()
        return ca
    return pki.CertificateAuthority(
        key=pki.load_private_key(row.key_encrypted, _passphrase(), skip_rsa_check=True),
        cert=x509.load_pem_x509_certificate(row.certificate_pem.encode()),
    )


def signing_identity(issuer: Issuer) -> pki.SigningIdentity:
    """The issuer's document-signing identity: that of its active certificate, looked
    up every time (so a replaced certificate takes effect at once), with the key kept
    decrypted in memory while the certificate stays the same (decrypting it is slow).
    The embedded mode makes the issuer a certificate from its local CA on first use."""
    row = db.session.scalar(
        select(SigningCertificate).where(
            SigningCertificate.issuer_id == issuer.id, SigningCertificate.active.is_(True)
        )
    )
    if row is not None:
        return _identity(row)
    identity = pki.issue_signing_certificate(
        _local_root(), issuer.name, email=issuer.email, algorithm=LOCAL_KEY_ALGORITHM
    )
    row = SigningCertificate(
        issuer_id=issuer.id,
        certificate_pem=pki.certificate_to_pem(identity.cert).decode(),
        chain_pem=pki.certificates_to_pem(identity.chain).decode(),
        key_encrypted=pki.serialize_private_key(identity.key, _passphrase()),
    )
    db.session.add(row)
    db.session.flush()
    audit.record("issuer.certificate_created", "issuer", issuer.id)
    _keep(_identity_key(row), identity)
    return identity


#: Identities loaded in this process, by a digest of everything they were loaded from
#: (certificate, chain, encrypted key) and of the passphrase that opened the key: a
#: corrected chain is picked up, another app's passphrase is never skipped, and a row
#: id reused after a rollback cannot match.
_identities: dict[str, pki.SigningIdentity] = {}
_MAX_IDENTITIES = 64


def _identity_key(row: SigningCertificate) -> str:
    digest = hashlib.sha256()
    for part in (row.certificate_pem, row.chain_pem or "", _passphrase()):
        digest.update(part.encode() + b"\0")
    digest.update(row.key_encrypted)
    return digest.hexdigest()


def _keep(key: str, identity: pki.SigningIdentity) -> None:
    if len(_identities) >= _MAX_IDENTITIES:
        _identities.clear()
    _identities[key] = identity


def _identity(row: SigningCertificate) -> pki.SigningIdentity:
    key = _identity_key(row)
    identity = _identities.get(key)
    if identity is None:
        identity = pki.load_signing_identity(
            row.certificate_pem, row.key_encrypted, row.chain_pem, passphrase=_passphrase()
        )
        _keep(key, identity)
    return identity


def forget_signers() -> None:
    """Drop this process's references to every decrypted signing key and signer (a
    render helper forked from a worker does so as it starts: it never signs). OpenSSL
    clears its copy of a key it frees; Python does not overwrite freed memory, so
    this narrows what a helper holds rather than guaranteeing it holds nothing."""
    _identities.clear()
    pdf.forget_signers()


def prepare_signers() -> int:
    """Load every active signing certificate's identity (decrypting its key) and build
    its signer, so that processes forked from this one start with them; return how
    many were prepared. One that fails is logged and left to the jobs; issuers
    without a signing certificate yet are left alone: their first certificate makes it."""
    rows = db.session.scalars(
        select(SigningCertificate).where(
            SigningCertificate.issuer_id.is_not(None), SigningCertificate.active.is_(True)
        )
    ).all()
    prepared = 0
    for row in rows:
        try:
            identity = _identity(row)
            pdf.prepare_signer(identity.key, identity.cert, identity.chain)
        except Exception:
            log.warning("could not prepare the signer of issuer %s", row.issuer_id, exc_info=True)
            continue
        prepared += 1
    return prepared


def chain_pem(issuer: Issuer) -> str:
    return signing_identity(issuer).chain_pem().decode()


def trust_roots() -> list[x509.Certificate]:
    rows = db.session.scalars(
        select(SigningCertificate).where(SigningCertificate.is_root.is_(True))
    )
    return [x509.load_pem_x509_certificate(row.certificate_pem.encode()) for row in rows]


def _context(
    badge: Badge,
    credential: dict[str, Any],
    *,
    teacher: User,
    micro_credential: MicroCredential | None,
    issuer_name: str,
) -> dict[str, Any]:
    subject = credential["credentialSubject"]
    levels = {r["resultDescription"]: r["achievedLevel"] for r in subject.get("result", [])}
    criteria = []
    for description in subject["achievement"].get("resultDescription", []):
        achieved = levels.get(description["id"])
        level = next(
            (lv for lv in description["rubricCriterionLevel"] if lv["id"] == achieved), None
        )
        criteria.append(
            {
                "name": description["name"],
                "level": level["name"] if level else "",
                "description": level["description"] if level else "",
            }
        )
    if badge.kind == "stack":
        criteria = [
            {
                "name": "Awarded for",
                "level": "",
                "description": subject["achievement"]["criteria"]["narrative"],
            }
        ]
    url = services.badge_url(badge.id)
    return {
        "educator_name": teacher.name,
        "license_number": teacher.license_number,
        "license_state": teacher.license_state,
        "credential_title": badge.title,
        "credential_code": badge.competency_code,
        "credential_version": subject["achievement"].get("version", ""),
        "competency_statement": micro_credential.competency
        if micro_credential
        else subject["achievement"].get("description", ""),
        "theme": micro_credential.theme_label if micro_credential else None,
        "issuer_name": issuer_name,
        "issued_on": badge.issued_at.date(),
        "expires_on": badge.valid_until.date() if badge.valid_until else None,
        "pd_hours": f"{badge.hours:g}",
        "criteria": criteria,
        "verification_url": url,
        "criteria_url": subject["achievement"]["criteria"].get("id"),
        "badge_id": badge.id,
        "review_method": REVIEW_METHOD,
        "lang": "en",
    }


def certificate_html(badge: Badge) -> str:
    """The certificate page as HTML, before WeasyPrint lays it out."""
    return _html(badge, json.loads(badge.credential_json), **_parties(badge))


def _parties(badge: Badge) -> dict[str, Any]:
    return {
        "teacher": badge.teacher,
        "micro_credential": badge.credential,
        "issuer_name": badge.issuer.name,
    }


def _html(badge: Badge, credential: dict[str, Any], qr: str | None = None, **parties: Any) -> str:
    context = _context(badge, credential, **parties)
    if qr is not None:
        context["qr_data_uri"] = qr
    return pdf.render_certificate_html(current_app.jinja_env, context)


def _lay_out(badge: Badge, pending: render_helper.PendingPdf, html: str) -> None:
    pending.layout(
        html,
        base_url=current_app.static_folder or ".",
        title=f"{badge.title} — certificate",
        lang="en",
    )


def begin_certificate(badge_id: str) -> render_helper.PendingPdf:
    """Start the certificate of the badge that will have this id: its QR code is made
    (in the render helper, when the process has one) while the badge is drafted."""
    return render_helper.begin(
        services.badge_url(badge_id),
        use_helper=current_app.config.get("PDF_RENDER_HELPER", True),
    )


def lay_out_draft(draft: Draft, pending: render_helper.PendingPdf) -> None:
    """Hand over a drafted badge's page, to be laid out while its credential is
    signed. The page shows nothing the signatures add, so the unsigned credential
    is enough."""
    html = _html(
        draft.badge,
        draft.unsigned,
        qr=pdf.QR_SOURCE,
        teacher=draft.submission.teacher,
        micro_credential=draft.submission.credential,
        issuer_name=draft.issuer.name,
    )
    _lay_out(draft.badge, pending, html)


def render_signed_pdf(badge: Badge, pending: render_helper.PendingPdf | None = None) -> bytes:
    """The certificate PDF with the signed credential embedded, signed as a whole.

    ``pending`` is this badge's certificate as :func:`lay_out_draft` left it.
    """
    if pending is None:
        pending = begin_certificate(badge.id)
        credential = json.loads(badge.credential_json)
        _lay_out(badge, pending, _html(badge, credential, qr=pdf.QR_SOURCE, **_parties(badge)))
    with pending:
        document = pending.finish(
            [(pdf.CREDENTIAL_FILENAME, badge.credential_json.encode(), CREDENTIAL_DESCRIPTION)]
        )
    identity = signing_identity(badge.issuer)
    return pdf.sign_pdf(
        document,
        key=identity.key,
        cert=identity.cert,
        chain=identity.chain,
        reason=f"Certifies badge {badge.id}",
        location=issuers.public_base_url(),
        signer_name=badge.issuer.name,
    )


def ensure_certificate(badge: Badge, pending: render_helper.PendingPdf | None = None) -> str:
    """Render, sign and store the PDF once (idempotent); return its SHA-256."""
    if badge.pdf_sha256:
        return badge.pdf_sha256
    data = render_signed_pdf(badge, pending)
    staged_path = new_staging_path()
    staged_path.write_bytes(data)
    staged = StagedFile(path=staged_path, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    badge.pdf_sha256 = get_storage().put(staged)
    fault_point("badges.issue.after_store")  # the PDF is stored, the badge not committed
    db.session.flush()
    return badge.pdf_sha256
