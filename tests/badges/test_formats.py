"""The other forms of an issued badge: VC-JWT, baked PNG and SVG, 1EdTech's JSON
Schema, and verification by this service's own URL (never fetched)."""

from __future__ import annotations

import base64
import copy
import io
import json
import xml.etree.ElementTree as ET

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from accounts.models import Role
from badges import ob3schema
from badges.multikey import decode_public_key
from core.extensions import db
from tests.badges.test_issuance import issued  # noqa: F401 - fixture
from tests.conftest import csrf_from, make_user, sign_in

BASE = "http://microcred.test"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _verify(app, **kwargs):
    return app.test_client().post("/api/v1/verifications", **kwargs)


def test_issued_credential_follows_the_1edtech_schema(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    credential = json.loads(badge.credential_json)
    assert ob3schema.problems(credential) == []
    body = _verify(app, json=credential).get_json()
    schema_check = next(c for c in body["checks"] if c["name"] == "schema")
    assert schema_check["passed"] is True

    broken = copy.deepcopy(credential)
    broken["credentialSubject"]["identifier"][0]["identityType"] = "shoeSize"
    del broken["validFrom"]
    found = ob3schema.problems(broken)
    assert any(p.startswith("(the credential):") and "validFrom" in p for p in found)
    assert any("credentialSubject/identifier/0/identityType" in p for p in found)
    broken["validFrom"] = credential["validFrom"]
    report = _verify(app, json=broken).get_json()
    schema_check = next(c for c in report["checks"] if c["name"] == "schema")
    assert report["valid"] is False and schema_check["passed"] is False
    assert "identityType" in schema_check["reason"]


def test_vc_jwt_is_signed_by_the_issuer_key_and_verifies(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    client = app.test_client()
    served = client.get(f"/badges/{badge.id}/credential.jwt")
    assert served.status_code == 200 and served.mimetype == "application/vc+jwt"
    token = served.get_data(as_text=True)

    # Checked independently of our decoder: PyJWT with the key from the DID document.
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["typ"] == "vc+jwt"
    did, _fragment = header["kid"].split("#")
    slug = did.rsplit(":", 1)[-1]
    document = client.get(f"/issuers/{slug}/did.json").get_json()
    method = next(m for m in document["verificationMethod"] if m["id"] == header["kid"])
    public = decode_public_key(method["publicKeyMultibase"])
    payload = jwt.decode(token, public, algorithms=["EdDSA"], options={"verify_exp": False})
    credential = json.loads(badge.credential_json)
    assert payload["iss"] == credential["issuer"]["id"] and payload["jti"] == credential["id"]
    credential.pop("proof")
    for name, value in credential.items():
        assert payload[name] == value

    answer = _verify(app, data=token, content_type="application/vc+jwt").get_json()
    assert answer["valid"] is True, answer
    assert answer["verdict"].startswith("Valid: Options for Expression and Communication")
    wrapped = _verify(app, json={"credential": token}).get_json()
    assert wrapped["valid"] is True


def test_tampered_or_forged_vc_jwts_fail(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    head, body, signature = badge.credential_jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["credentialSubject"]["creditsEarned"] = 99
    tampered = f"{head}.{_b64(claims)}.{signature}"
    answer = _verify(app, data=tampered, content_type="text/plain").get_json()
    proof = next(c for c in answer["checks"] if c["name"] == "proof")
    assert answer["valid"] is False and "changed" in proof["reason"]

    # Signed by someone else's key, claiming ours.
    forged_header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=forged_header
    )
    assert _verify(app, data=forged, content_type="text/plain").get_json()["valid"] is False

    # A term the contexts do not define is refused even when properly signed.
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["favouriteColour"] = "teal"
    with app.app_context():
        from badges import issuers, vcjwt
        from badges.models import IssuerKey

        key = db.session.get(IssuerKey, badge.key_id)
        resigned = vcjwt.encode(claims, issuers.secret_key(key), issuers.key_id(key))
    answer = _verify(app, data=resigned, content_type="text/plain").get_json()
    proof = next(c for c in answer["checks"] if c["name"] == "proof")
    assert answer["valid"] is False and "favouriteColour" in proof["reason"]


def test_a_signed_vc_jwt_whose_json_ld_cannot_be_read_fails_clearly(issued) -> None:  # noqa: F811
    """Properly signed by our key, but naming a context we do not ship, importing one
    inline, or with a context JSON-LD rejects: a clear "not valid", never an error."""
    app, _teacher, badge = issued
    body = badge.credential_jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    contexts = claims["@context"]
    cases = {
        "unknown.example": ["https://unknown.example/context", *contexts[1:]],
        "@import": [*contexts, {"@import": contexts[0]}],
        "version": [*contexts, {"@version": 2}],
    }
    with app.app_context():
        from badges import issuers, vcjwt
        from badges.models import IssuerKey

        key = db.session.get(IssuerKey, badge.key_id)
        tokens = {
            expected: vcjwt.encode(
                {**claims, "@context": context}, issuers.secret_key(key), issuers.key_id(key)
            )
            for expected, context in cases.items()
        }
    for expected, token in tokens.items():
        response = _verify(app, data=token, content_type="text/plain")
        assert response.status_code == 200, (expected, response.data[:300])
        answer = response.get_json()
        proof = next(c for c in answer["checks"] if c["name"] == "proof")
        assert answer["valid"] is False and proof["passed"] is False
        assert expected in proof["reason"], proof["reason"]


def test_revocation_shows_in_the_jwt_form_too(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    # Verified by id first, so a remembered report exists; revocation must still show.
    assert _verify(app, json={"id": badge.id}).get_json()["valid"] is True
    make_user(app, "admin@example.org", Role.PROGRAM_ADMIN)
    admin = app.test_client()
    sign_in(admin, "admin@example.org")
    headers = {"X-CSRFToken": csrf_from(admin, "/admin")}
    revoked = admin.post(
        f"/api/v1/badges/{badge.id}/revoke", json={"reason": "Issued in error"}, headers=headers
    )
    assert revoked.status_code == 200
    answer = _verify(app, data=badge.credential_jwt, content_type="text/plain").get_json()
    revocation = next(c for c in answer["checks"] if c["name"] == "revocation")
    assert answer["valid"] is False and revocation["code"] == "REVOKED"
    by_id = _verify(app, json={"id": badge.id}).get_json()
    assert by_id["valid"] is False and "revoked" in by_id["verdict"]
    assert "revoked" in app.test_client().get(f"/badges/{badge.id}").get_data(as_text=True)


def test_baked_png_carries_the_credential_byte_for_byte(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    client = app.test_client()
    served = client.get(f"/badges/{badge.id}/image.png")
    assert served.status_code == 200 and served.mimetype == "image/png"
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.size == (480, 480)
        assert image.text["openbadgecredential"] == badge.credential_json
    again = client.get(
        f"/badges/{badge.id}/image.png", headers={"If-None-Match": served.headers["ETag"]}
    )
    assert again.status_code == 304

    upload = {"file": (io.BytesIO(served.data), "badge.png")}
    answer = client.post("/api/v1/verifications", data=upload).get_json()
    assert answer["valid"] is True, answer

    token = csrf_from(client, "/verify")
    page = client.post(
        "/verify", data={"csrf_token": token, "file": (io.BytesIO(served.data), "badge.png")}
    )
    assert page.status_code == 200 and "Valid" in page.get_data(as_text=True)


def test_plain_or_broken_pngs_get_clear_answers(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    plain = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(plain, format="PNG")
    answer = _verify(app, data={"file": (io.BytesIO(plain.getvalue()), "plain.png")}).get_json()
    assert answer["valid"] is False and "not a baked badge" in answer["verdict"]

    baked = bytearray(app.test_client().get(f"/badges/{badge.id}/image.png").data)
    baked[60] ^= 0xFF  # inside a chunk: its checksum no longer matches
    broken = _verify(app, data={"file": (io.BytesIO(bytes(baked)), "broken.png")})
    assert broken.status_code == 422 and "damaged" in broken.get_json()["message"]
    truncated = _verify(app, data={"file": (io.BytesIO(bytes(baked[:40])), "short.png")})
    assert truncated.status_code == 422


def test_svg_image_is_baked(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    svg = app.test_client().get(f"/badges/{badge.id}/image.svg").data
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    baked = root.find("{https://purl.imsglobal.org/ob/v3p0}credential")
    assert baked is not None and baked.text == badge.credential_json
    assert root.find("{http://www.w3.org/2000/svg}title").text == badge.title


def test_verification_by_own_url(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    for suffix in ("", "/", "/credential.json", "/certificate.pdf", "/image.png"):
        answer = _verify(app, json={"url": f"{BASE}/badges/{badge.id}{suffix}"})
        assert answer.status_code == 200 and answer.get_json()["valid"] is True, suffix
    assert _verify(app, json={"id": badge.id}).get_json()["valid"] is True
    client = app.test_client()
    token = csrf_from(client, "/verify")
    page = client.post("/verify", data={"csrf_token": token, "badge": f"{BASE}/badges/{badge.id}"})
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/badges/{badge.id}")
    missing = _verify(app, json={"id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 404 and "No badge has this id" in missing.get_json()["message"]


HOSTILE_URLS = [
    "http://169.254.169.254/badges/{id}",
    "http://127.0.0.1:6379/badges/{id}",
    "http://localhost/badges/{id}",
    "http://microcred.test.evil.example/badges/{id}",
    "http://microcred.test:8080/badges/{id}",
    "https://microcred.test:5000/badges/{id}",
    "file:///etc/passwd#/badges/{id}",
    "http://microcred.test/badges/{id}/../../admin",
    "http://user@microcred.test@evil.example/badges/{id}",
    "gopher://microcred.test/badges/{id}",
    "http://[::1/badges/{id}",
    "http://microcred.test/other/badges/{id}",
]


def test_verification_by_url_refuses_other_addresses_and_fetches_nothing(issued) -> None:  # noqa: F811
    app, _teacher, badge = issued
    client = app.test_client()
    token = csrf_from(client, "/verify")
    for template in HOSTILE_URLS:
        url = template.format(id=badge.id)
        answer = _verify(app, json={"url": url})
        assert answer.status_code == 422, url
        assert "Only this service's own badge addresses" in answer.get_json()["message"]
        page = client.post("/verify", data={"csrf_token": token, "badge": url})
        assert page.status_code == 422, url
        assert "own badge addresses" in page.get_data(as_text=True).replace("&#39;", "'")
