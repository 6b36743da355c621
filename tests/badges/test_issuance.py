"""A passed attempt becomes a signed Open Badges 3.0 credential that verifies."""

from __future__ import annotations

import copy
import io
import json
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from accounts.models import Role
from badges import issuers, pdf, services
from badges.models import Badge, Issuer
from badges.verification import verify_badge, verify_credential, verify_text
from core.db_types import utcnow
from core.extensions import db
from tests.conftest import csrf_from, make_user, sign_in
from tests.reviews.workflow import (
    TEACHER_NAME,
    complete_submission,
    drain,
    reviewer,
    submit_all_reviews,
)


def _passed(app: Flask) -> tuple[object, int]:
    reviewer(app, "b1@example.org", "Brookside")
    reviewer(app, "b2@example.org", "Hillview")
    teacher, submission_id = complete_submission(app)
    drain(app)
    submit_all_reviews(app, submission_id)
    drain(app)
    return teacher, submission_id


def _badge(app: Flask, submission_id: int) -> Badge:
    with app.app_context():
        badge = db.session.scalar(select(Badge).where(Badge.submission_id == submission_id))
        assert badge is not None
        db.session.expunge(badge)
        return badge


@pytest.fixture
def issued(seeded: Flask) -> tuple[Flask, object, Badge]:
    teacher, submission_id = _passed(seeded)
    return seeded, teacher, _badge(seeded, submission_id)


def test_passed_attempt_is_issued_a_valid_badge(issued) -> None:
    app, teacher, badge = issued
    credential = json.loads(badge.credential_json)
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    subject = credential["credentialSubject"]
    assert subject["achievement"]["achievementType"] == "MicroCredential"
    assert subject["creditsEarned"] == 15
    assert {r["type"][0] for r in subject["result"]} == {"Result"}
    assert [p["cryptosuite"] for p in credential["proof"]] == ["eddsa-rdfc-2022"]
    assert credential["credentialStatus"]["type"] == "BitstringStatusListEntry"
    with app.test_request_context():
        report = verify_credential(credential)
    assert report.valid, report.as_dict()
    assert report.verdict.startswith(
        f"Valid: Options for Expression and Communication issued to {TEACHER_NAME}"
    )
    page = app.test_client().get(f"/badges/{badge.id}").get_data(as_text=True)
    # The verification result is public to anyone with the id; the details are the
    # educator's to share.
    assert "Valid" in page and TEACHER_NAME in page
    assert "Criteria met" not in page and "keeps the details of this badge private" in page
    token = csrf_from(teacher, f"/badges/{badge.id}")
    assert (
        teacher.post(
            f"/badges/{badge.id}/visibility", data={"csrf_token": token, "public": "true"}
        ).status_code
        == 302
    )
    assert "Criteria met" in app.test_client().get(f"/badges/{badge.id}").get_data(as_text=True)
    served = app.test_client().get(f"/badges/{badge.id}/credential.json")
    assert served.data.decode() == badge.credential_json  # byte for byte as issued
    api = app.test_client().post("/api/v1/verifications", json=credential)
    assert api.status_code == 200 and api.get_json()["valid"] is True
    wrapped = app.test_client().post("/api/v1/verifications", json={"credential": credential})
    assert wrapped.get_json()["valid"] is True
    assert "My badges" in teacher.get("/portfolio").get_data(as_text=True)


def test_issuance_is_idempotent(issued) -> None:
    app, _teacher, badge = issued
    with app.app_context():
        again = services.issue_for_submission(badge.submission_id)
        db.session.commit()
        assert again.id == badge.id
        assert db.session.scalar(select(func.count(Badge.id))) == 1


def test_the_issuance_job_run_again_makes_nothing_new(issued) -> None:
    """A retried job finds the badge and its PDF, and leaves the render helper free."""
    from badges import render_helper
    from badges.jobs import issue_badge_for_submission

    app, _teacher, badge = issued
    before = render_helper.stats()
    with app.app_context():
        assert issue_badge_for_submission(badge.submission_id) == badge.id
        assert db.session.scalar(select(func.count(Badge.id))) == 1
        assert db.session.get(Badge, badge.id).pdf_sha256 == badge.pdf_sha256
    after = render_helper.stats()
    if render_helper.supported():  # the helper made nothing, and is ready for the next badge
        assert before is not None and after is not None and after["served"] == before["served"]
        assert after["dropped"] == before["dropped"] + 1


@pytest.mark.parametrize("change", ["name", "hours", "undefined_term", "proof"])
def test_tampered_credentials_fail(issued, change: str) -> None:
    app, _teacher, badge = issued
    credential = json.loads(badge.credential_json)
    forged = copy.deepcopy(credential)
    if change == "name":
        forged["credentialSubject"]["identifier"][1]["identityHash"] = "Someone Else"
    elif change == "hours":
        forged["credentialSubject"]["creditsEarned"] = 60
    elif change == "undefined_term":
        forged["credentialSubject"]["favouriteColour"] = "blue"
    else:
        forged["proof"][0]["proofValue"] = forged["proof"][0]["proofValue"][:-4] + "abcd"
    response = app.test_client().post("/api/v1/verifications", json=forged)
    body = response.get_json()
    assert response.status_code == 200 and body["valid"] is False
    proof = next(c for c in body["checks"] if c["name"] == "proof")
    assert proof["passed"] is False and proof["code"] == "SIGNATURE_INVALID"
    assert body["verdict"].startswith("Not valid")


def test_revocation_is_visible_at_once(issued) -> None:
    app, _teacher, badge = issued
    make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    admin = app.test_client()
    sign_in(admin, "admin@example.org")
    headers = {"X-CSRFToken": csrf_from(admin, "/admin")}
    status_url = json.loads(badge.credential_json)["credentialStatus"]["statusListCredential"]
    path = "/status/" + status_url.rsplit("/status/", 1)[1]
    before = app.test_client().get(path)
    etag = before.headers["ETag"]
    assert app.test_client().get(path, headers={"If-None-Match": etag}).status_code == 304
    assert (
        admin.post(
            f"/api/v1/badges/{badge.id}/revoke", json={"reason": ""}, headers=headers
        ).status_code
        == 422
    )
    revoked = admin.post(
        f"/api/v1/badges/{badge.id}/revoke",
        json={"reason": "Evidence was not the educator's own"},
        headers=headers,
    )
    assert revoked.status_code == 200
    assert app.test_client().get(path).headers["ETag"] != etag
    body = (
        app.test_client()
        .post("/api/v1/verifications", json=json.loads(badge.credential_json))
        .get_json()
    )
    assert body["valid"] is False
    assert next(c for c in body["checks"] if c["name"] == "revocation")["code"] == "REVOKED", body
    assert (
        admin.post(
            f"/api/v1/badges/{badge.id}/revoke", json={"reason": "again"}, headers=headers
        ).status_code
        == 409
    )


def test_key_rotation_keeps_old_badges_valid_and_compromise_cuts_later_ones(issued) -> None:
    app, _teacher, badge = issued
    credential = json.loads(badge.credential_json)
    with app.test_request_context():
        issuer = issuers.ensure_default_issuer()
        issuers.rotate_key(issuer)
        db.session.commit()
        assert verify_credential(credential).valid
        did = app.test_client().get(f"/issuers/{issuer.slug}/did.json").get_json()
        assert len(did["verificationMethod"]) == 2
        assert all(m["type"] == "Multikey" for m in did["verificationMethod"])
        # Compromised after this badge was signed: it stays valid.
        issuers.mark_compromised(issuer, "key-1", utcnow() + timedelta(minutes=5))
        db.session.commit()
        assert verify_credential(credential).valid
        assert verify_badge(badge.id).valid  # and by id, which remembers the report
    with app.test_request_context():
        issuer = issuers.ensure_default_issuer()
        key = next(k for k in issuer.keys if k.fragment == "key-1")
        key.compromised_at = utcnow() - timedelta(
            days=1
        )  # reported as compromised before it signed
        db.session.commit()
        report = verify_credential(credential)
        assert not report.valid
        assert next(c for c in report.checks if c.name == "issuer").code == "SIGNATURE_INVALID"
        assert not verify_badge(badge.id).valid  # the remembered report is not reused


def test_expired_badges_verify_as_expired(issued) -> None:
    app, _teacher, badge = issued
    credential = json.loads(badge.credential_json)
    with app.test_request_context():
        report = verify_credential(credential, now=utcnow() + timedelta(days=365 * 100))
    # UDL-05 has no validity period: it does not expire.
    assert report.valid
    with app.test_request_context():
        report = verify_credential(credential, now=utcnow() - timedelta(days=2))
        # The same moment when the credential comes wrapped as {"credential": …}.
        wrapped = verify_text(
            json.dumps({"credential": credential}), now=utcnow() - timedelta(days=2)
        )
    for checked in (report, wrapped):
        assert (
            not checked.valid
            and next(c for c in checked.checks if c.name == "expiry").code == "EXPIRED"
        )


def test_bad_verification_input_gets_clear_answers(seeded: Flask) -> None:
    client = seeded.test_client()
    assert (
        client.post(
            "/api/v1/verifications", data="{nope", content_type="application/json"
        ).status_code
        == 422
    )
    body = client.post("/api/v1/verifications", json={"hello": "world"}).get_json()
    assert body["valid"] is False and "not an Open Badges 3.0 credential" in body["verdict"]
    assert client.post("/api/v1/verifications", json=[1, 2]).get_json()["valid"] is False
    assert client.get("/badges/not-a-uuid").status_code == 404
    assert client.get("/badges/00000000-0000-0000-0000-000000000000").status_code == 404
    token = csrf_from(client, "/verify")
    lookup = client.post("/verify", data={"csrf_token": token, "badge": "nonsense"})
    assert lookup.status_code == 422 and "looks like" in lookup.get_data(as_text=True)


def test_the_signed_certificate_pdf_verifies_and_tampering_fails(issued) -> None:
    app, _teacher, badge = issued
    client = app.test_client()
    download = client.get(f"/badges/{badge.id}/certificate.pdf")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    pdf = download.data

    def verify(data: bytes) -> dict:
        return client.post(
            "/api/v1/verifications",
            data={"file": (io.BytesIO(data), "certificate.pdf")},
            content_type="multipart/form-data",
        ).get_json()

    good = verify(pdf)
    assert good["valid"] is True, good
    assert good["checks"][0]["name"] == "pdf_signature" and good["checks"][0]["passed"]
    appended = verify(pdf + b"\n% appended after signing\n")
    assert appended["valid"] is False and appended["checks"][0]["code"] == "SIGNATURE_INVALID"
    flipped = bytearray(pdf)
    flipped[len(flipped) // 3] ^= 0x01
    assert verify(bytes(flipped))["valid"] is False
    chain = client.get("/issuers/program/certificate.pem").get_data(as_text=True)
    assert chain.count("BEGIN CERTIFICATE") == 2
    page = client.post(
        "/verify",
        data={
            "csrf_token": csrf_from(client, "/verify"),
            "file": (io.BytesIO(pdf), "certificate.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert page.status_code == 200 and "✓ Valid" in page.get_data(as_text=True)


def test_an_independent_verifier_accepts_the_issued_badge(issued, tmp_path) -> None:
    from tests.badges.test_dataintegrity import INTEROP_DIR, ensure_js_verifier, js_verdict

    app, _teacher, badge = issued
    ensure_js_verifier()
    with app.app_context():
        from badges.models import IssuerKey

        public_multikey = db.session.get(IssuerKey, badge.key_id).public_multikey
    credential = json.loads(badge.credential_json)
    status_code, verdict = js_verdict(
        INTEROP_DIR / "verify.mjs", tmp_path, credential, public_multikey
    )
    assert verdict == {"verified": True, "errors": []} and status_code == 0
    credential["credentialSubject"]["creditsEarned"] = 60
    status_code, verdict = js_verdict(
        INTEROP_DIR / "verify.mjs", tmp_path, credential, public_multikey
    )
    assert verdict["verified"] is False and status_code == 1


def test_badge_image_named_in_the_credential_exists(issued) -> None:
    app, _teacher, badge = issued
    url = json.loads(badge.credential_json)["credentialSubject"]["achievement"]["image"]["id"]
    response = app.test_client().get(url.replace("http://microcred.test", ""))
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert "Options for Expression and Communication</title>" in response.get_data(as_text=True)


def test_a_forking_worker_lays_out_certificates_in_its_render_helper(seeded: Flask) -> None:
    """As deployed: RQ's forking worker starts a render helper before its first job,
    and the work horse that issues the badge has the helper lay out the certificate."""
    from badges import render_helper
    from core.jobs import relay_outbox
    from core.worker import run_worker

    if not render_helper.supported():
        pytest.skip("the render helper needs Linux")
    render_helper.stop()
    reviewer(seeded, "f1@example.org", "Brookside")
    reviewer(seeded, "f2@example.org", "Hillview")
    _teacher, submission_id = complete_submission(seeded)
    drain(seeded)
    render_helper.stop()  # drain() prepared this process; the worker must do it itself
    submit_all_reviews(seeded, submission_id)
    try:
        for _ in range(3):  # the decision job enqueues issuance through the outbox
            with seeded.app_context():
                relay_outbox()
            run_worker(seeded, burst=True)
        served = render_helper.stats()
    finally:
        render_helper.stop()
    badge = _badge(seeded, submission_id)
    assert served is not None and served["served"] == 1, served
    pdf = seeded.test_client().get(f"/badges/{badge.id}/certificate.pdf").data
    verdict = (
        seeded.test_client()
        .post(
            "/api/v1/verifications",
            data={"file": (io.BytesIO(pdf), "certificate.pdf")},
            content_type="multipart/form-data",
        )
        .get_json()
    )
    assert verdict["valid"] is True, verdict


def test_a_worker_prepares_signers_and_contexts_before_it_forks(issued) -> None:
    """Work horses inherit the worker's decrypted signing keys, ready signers and
    processed JSON-LD contexts, so no job pays for them; issuers without a signing
    certificate are left alone."""
    from badges import certificates, dataintegrity, pki
    from badges.models import SigningCertificate
    from core.jobs import run_worker_hooks

    app, _teacher, badge = issued
    app.extensions.pop("microcred_issuance_prepared", None)
    certificates.forget_signers()
    dataintegrity.shipped_document_loader.cache_clear()
    with app.app_context():
        unsigned_issuer = Issuer(
            slug="not-yet-signing", name="Not yet signing", url="", email="u@example.org"
        )
        db.session.add(unsigned_issuer)
        db.session.commit()
        unsigned_id = unsigned_issuer.id

    run_worker_hooks(app)

    with app.app_context():
        active = db.session.scalar(
            select(SigningCertificate.certificate_pem).where(
                SigningCertificate.issuer_id == badge.issuer_id,
                SigningCertificate.active.is_(True),
            )
        )
        assert not db.session.scalar(
            select(SigningCertificate.id).where(SigningCertificate.issuer_id == unsigned_id)
        )
    assert len(certificates._identities) == 1  # the unsigned issuer got none
    (identity,) = certificates._identities.values()
    assert pki.certificate_to_pem(identity.cert).decode() == active
    signer, _ = pdf._signer(identity.key, identity.cert, tuple(identity.chain))
    assert pdf._signer.cache_info().hits == 1  # built by the preparation, not now
    assert any(template is not None for template in signer._attribute_templates.values())
    assert len(dataintegrity.shipped_document_loader().scoped_contexts) > 0
    run_worker_hooks(app)  # before each later job: nothing to do again
    assert pdf._signer.cache_info().hits == 1


def test_a_replaced_signing_certificate_signs_the_next_certificate(issued) -> None:
    """Identities are kept in memory (and inherited by work horses), but the active
    certificate is looked up each time: replacing it takes effect at once."""
    from badges import certificates, pki
    from badges.models import SigningCertificate

    app, _teacher, badge = issued
    with app.app_context():
        issuer = db.session.get(Issuer, badge.issuer_id)
        before = certificates.signing_identity(issuer)
        assert certificates.signing_identity(issuer) is before  # kept, not reloaded
        old = db.session.scalar(
            select(SigningCertificate).where(
                SigningCertificate.issuer_id == issuer.id, SigningCertificate.active.is_(True)
            )
        )
        old.active = False
        root = certificates._local_root()
        replacement = pki.issue_signing_certificate(root, issuer.name, algorithm="ecdsa-p256")
        db.session.add(
            SigningCertificate(
                issuer_id=issuer.id,
                certificate_pem=pki.certificate_to_pem(replacement.cert).decode(),
                chain_pem=pki.certificates_to_pem(replacement.chain).decode(),
                key_encrypted=pki.serialize_private_key(
                    replacement.key, certificates._passphrase()
                ),
            )
        )
        db.session.commit()
        assert certificates.signing_identity(issuer).cert == replacement.cert
        badge_row = db.session.get(Badge, badge.id)
        badge_row.pdf_sha256 = None
        certificates.ensure_certificate(badge_row)
        db.session.commit()
    signed = app.test_client().get(f"/badges/{badge.id}/certificate.pdf").data
    with app.app_context():
        check = pdf.validate_pdf(signed, trust_roots=certificates.trust_roots())
    assert check.ok, check.problems
    assert check.signer_certificate == replacement.cert


def test_a_corrected_chain_is_used_without_a_restart(issued) -> None:
    from badges import certificates
    from badges.models import SigningCertificate

    app, _teacher, badge = issued
    with app.app_context():
        issuer = db.session.get(Issuer, badge.issuer_id)
        before = certificates.signing_identity(issuer)
        row = db.session.scalar(
            select(SigningCertificate).where(
                SigningCertificate.issuer_id == issuer.id, SigningCertificate.active.is_(True)
            )
        )
        assert before.chain  # the local root
        row.chain_pem = ""  # corrected to stop short of the root, which verifiers hold
        db.session.commit()
        after = certificates.signing_identity(issuer)
    assert after.cert == before.cert and after.chain == ()
