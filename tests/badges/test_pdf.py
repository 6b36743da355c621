"""Certificate PDFs end to end: real WeasyPrint rendering, real keys, real PAdES
signatures, checked by pyHanko and by poppler (``pdfsig``, ``pdftotext``).

poppler-utils and libnss3-tools are required; a missing tool fails the test with
the package to install (these checks are the independent second opinion on our
signatures, so they are never skipped).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from badges import pdf as pdf_module
from badges import pki
from badges.pdf import (
    CREDENTIAL_FILENAME,
    TEMPLATES_DIR,
    certificate_environment,
    certificate_title,
    font_configuration,
    qr_svg,
    render_certificate_html,
    render_pdf,
    sign_pdf,
    validate_pdf,
)

ISSUER = "Cumberland Educator Academy"
EDUCATOR = "María José O'Neill-Ramírez"
TITLE = "Designing Flexible Assessments with UDL"
VERIFY_URL = "https://microcred.example.org/verify/4f1c2a9e-7b3d-4e5f-9a1b-2c3d4e5f6a7b"
BADGE_ID = "urn:uuid:4f1c2a9e-7b3d-4e5f-9a1b-2c3d4e5f6a7b"
QR_ALT = f"QR code linking to the verification page {VERIFY_URL}"

# Not a real proof, but bytes that would break under any re-encoding: non-ASCII,
# CRLF, a trailing newline, key order that a JSON round trip might change.
CREDENTIAL = (
    json.dumps(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "id": BADGE_ID,
            "credentialSubject": {"name": EDUCATOR, "licenseNumber": "TN-0012345"},
            "proof": {"type": "DataIntegrityProof", "proofValue": "z3FXQjecWufY46"},
        },
        ensure_ascii=False,
        indent=1,
    ).replace("\n", "\r\n")
    + "\n"
).encode()


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not installed: install the Debian package {package} "
            f"(apt-get install {package}); these tests never skip it."
        )
    return path


def run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    return result.stdout + result.stderr


def context(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lang": "en",
        "educator_name": EDUCATOR,
        "license_number": "TN-0012345",
        "license_state": "Tennessee",
        "credential_title": TITLE,
        "credential_code": "UDL-ASSESS-01",
        "credential_version": "1.2",
        "competency_statement": (
            "Designs classroom assessments that offer students multiple means of action "
            "and expression while keeping the learning goal constant."
        ),
        "theme": "Universal Design for Learning",
        "issuer_name": ISSUER,
        "issuer_provider_id": "TN-PDP-0457",
        "credit_granting_body": "Middle Tennessee State University, Continuing Education",
        "issued_on": dt.date(2025, 3, 14),
        "activity_start": dt.date(2025, 1, 6),
        "activity_end": dt.date(2025, 3, 1),
        "pd_hours": 15,
        "state_equivalents": ["Tennessee: 6 PDPs", "Delaware: 15 clock hours"],
        "review_method": "Two trained reviewers, blind double scoring",
        "criteria": [
            {"name": "Goal clarity", "level": "Proficient"},
            {"name": "Flexible means of expression", "level": "Exemplary"},
            {
                "name": "Barrier analysis",
                "level": "Proficient",
                "description": "Names the barriers the original assessment posed.",
            },
            {"name": "Scoring that separates construct from format", "level": "Proficient"},
            {"name": "Student feedback and revision", "level": "Proficient"},
            {"name": "Reflection on impact", "level": "Exemplary"},
        ],
        "criteria_url": "https://microcred.example.org/credentials/UDL-ASSESS-01/1.2",
        "verification_url": VERIFY_URL,
        "badge_id": BADGE_ID,
        "expires_on": dt.date(2030, 3, 14),
    }
    values.update(overrides)
    return values


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> pki.CertificateAuthority:
    return pki.create_root_ca("Microcred Test Root CA", organization="Microcred tests")


@pytest.fixture(scope="module")
def identity(ca: pki.CertificateAuthority) -> pki.SigningIdentity:
    return pki.issue_signing_certificate(ca, ISSUER, years=3, email="badges@cumberland.example")


@pytest.fixture(scope="module")
def html() -> str:
    return render_certificate_html(certificate_environment(), context())


@pytest.fixture(scope="module")
def unsigned_pdf(html: str) -> bytes:
    return render_pdf(
        html,
        base_url=str(TEMPLATES_DIR),
        attachments=[(CREDENTIAL_FILENAME, CREDENTIAL, "Signed Open Badges 3.0 credential")],
        title=certificate_title(context()),
        lang="en",
    )


def sign(pdf: bytes, identity: pki.SigningIdentity) -> bytes:
    return sign_pdf(
        pdf,
        key=identity.key,
        cert=identity.cert,
        chain=identity.chain,
        reason="Micro-credential awarded",
        location="Nashville, Tennessee",
        signer_name=ISSUER,
    )


@pytest.fixture(scope="module")
def signed_pdf(unsigned_pdf: bytes, identity: pki.SigningIdentity) -> bytes:
    return sign(unsigned_pdf, identity)


def nss_database(directory: Path, *roots: x509.Certificate) -> str:
    """An NSS database (what pdfsig uses as its trust store) trusting ``roots`` as
    CAs for signed documents (the S/MIME trust bit)."""
    certutil = require_tool("certutil", "libnss3-tools")
    directory.mkdir(parents=True, exist_ok=True)
    database = f"sql:{directory}"
    subprocess.run(
        [certutil, "-N", "-d", database, "--empty-password"], check=True, capture_output=True
    )
    for index, root in enumerate(roots):
        pem = directory / f"root{index}.pem"
        pem.write_bytes(pki.certificate_to_pem(root))
        subprocess.run(
            [
                certutil,
                "-A",
                "-d",
                database,
                "-n",
                f"root{index}",
                "-t",
                ",C,",
                "-a",
                "-i",
                str(pem),
            ],
            check=True,
            capture_output=True,
        )
    return database


@pytest.fixture(scope="module")
def trusting_nss(tmp_path_factory: pytest.TempPathFactory, ca: pki.CertificateAuthority) -> str:
    return nss_database(tmp_path_factory.mktemp("nss-trusting"), ca.cert)


def pdfsig(pdf: bytes, nss: str, tmp_path: Path, name: str = "certificate.pdf") -> str:
    tool = require_tool("pdfsig", "poppler-utils")
    path = tmp_path / name
    path.write_bytes(pdf)
    # No -no-ocsp: poppler 22.12 then answers "Unknown issue with Certificate" even
    # for a trusted chain. Our certificates carry no OCSP/AIA URL, so nothing is
    # fetched anyway.
    return run(tool, "-nssdir", nss, str(path))


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    tool = require_tool("pdftotext", "poppler-utils")
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    return run(tool, "-layout", str(path), "-")


# --- tampering -------------------------------------------------------------------------


def append_bytes(pdf: bytes) -> bytes:
    return pdf + b"\n% one more line after %%EOF\n"


def incremental_text_change(pdf: bytes) -> bytes:
    """A well-formed incremental update that paints a different name on the page."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            }
        )
    )
    content = writer.add_object(
        generic.StreamObject(stream_data=b"BT /Forged 20 Tf 72 560 Td (Forged Name) Tj ET")
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/Forged"): font}
            )
        }
    )
    writer.add_stream_to_page(0, content, resources=resources)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def flip_signed_byte(pdf: bytes) -> bytes:
    """Change the signer's name in the signature dictionary: one byte, inside the
    signed byte range, file still well formed."""
    reader = PdfFileReader(BytesIO(pdf))
    start1, length1, start2, length2 = reader.embedded_signatures[0].byte_range
    position = pdf.rindex(ISSUER.encode())
    assert start1 <= position < start1 + length1 or start2 <= position < start2 + length2
    data = bytearray(pdf)
    data[position] = ord("K")  # "Cumberland" -> "Kumberland"
    return bytes(data)


def replace_credential(pdf: bytes) -> bytes:
    """An incremental update that swaps the embedded credential.json."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    names = writer.root["/Names"]["/EmbeddedFiles"]
    spec = names["/Names"][1]
    forged = writer.add_object(generic.StreamObject(stream_data=b'{"forged": true}'))
    spec["/EF"] = generic.DictionaryObject({generic.NameObject("/F"): forged})
    writer.mark_update(names["/Names"].raw_get(1))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------


def test_certificate_html_has_every_field_a_licensure_office_needs(html: str) -> None:
    for text in (
        EDUCATOR.replace("'", "&#39;"),
        "TN-0012345",
        "Tennessee",
        TITLE,
        "UDL-ASSESS-01",
        "Version 1.2",
        "multiple means of action",
        "Universal Design for Learning",
        ISSUER,
        "TN-PDP-0457",
        "March 14, 2025",
        "January 6, 2025 \N{EN DASH} March 1, 2025",
        "15 hours",
        "Tennessee: 6 PDPs",
        "Delaware: 15 clock hours",
        "Flexible means of expression",
        "Exemplary",
        VERIFY_URL,
        BADGE_ID,
        "March 14, 2030",
        f"Signed digitally by {ISSUER}",
        "Two trained reviewers",
    ):
        assert text in html, text


def test_certificate_html_is_accessible_and_self_contained(html: str) -> None:
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html
    assert "<h1>" in html and html.count("<h2") >= 4
    assert '<th scope="col">Criterion</th>' in html
    assert html.count('<th scope="row">') >= 6 + 6
    assert f'alt="{QR_ALT}"' in html
    assert 'src="data:image/svg+xml;base64,' in html
    # nothing is fetched: no style sheets, scripts, fonts or images from elsewhere
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert "url(" not in html and 'src="http' not in html


def test_certificate_html_escapes_user_data_and_optional_fields() -> None:
    html = render_certificate_html(
        certificate_environment(),
        context(
            educator_name="<img src=x onerror=alert(1)>",
            license_number=None,
            expires_on=None,
            state_equivalents=[],
            theme=None,
        ),
    )
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "license number" not in html
    assert "Does not expire" in html
    assert "State equivalents" not in html


def test_certificate_html_refuses_an_environment_without_autoescape() -> None:
    from jinja2 import Environment, FileSystemLoader

    with pytest.raises(ValueError, match="autoescape"):
        render_certificate_html(
            Environment(loader=FileSystemLoader(TEMPLATES_DIR)),  # noqa: S701 - the point
            context(),
        )


def test_qr_svg_is_a_standalone_svg_for_the_url() -> None:
    svg = qr_svg(VERIFY_URL)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "<title>" in svg and VERIFY_URL in svg
    assert "<path" in svg


# --- rendering ---------------------------------------------------------------------------------


def test_render_pdf_is_tagged_titled_with_language_and_one_page(
    html: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = render_pdf(
            html,
            base_url=str(TEMPLATES_DIR),
            attachments=[(CREDENTIAL_FILENAME, CREDENTIAL, "Signed credential")],
            title=certificate_title(context()),
            lang="en-US",
        )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text

    reader = PdfFileReader(BytesIO(pdf))
    root = reader.root
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"] is True or root["/MarkInfo"][
        "/Marked"
    ] == generic.BooleanObject(True)
    assert str(root["/Lang"]) == "en-US"
    assert str(reader.trailer["/Info"]["/Title"]) == certificate_title(context())
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    xmp = root["/Metadata"].data
    assert b"pdfuaid:part" in xmp and certificate_title(context()).encode() in xmp
    assert int(root["/Pages"]["/Count"]) == 1

    structure = list(_structure(root["/StructTreeRoot"]))
    tags = [tag for tag, _ in structure]
    assert tags.index("/H1") < tags.index("/H2") < tags.index("/Table")
    assert tags.count("/Table") == 3 and "/TH" in tags and "/TD" in tags
    figures = [element for tag, element in structure if tag == "/Figure"]
    assert [str(figure["/Alt"]) for figure in figures] == [QR_ALT]


def _structure(node: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    node = node.get_object() if isinstance(node, generic.IndirectObject) else node
    if not isinstance(node, generic.DictionaryObject) or depth > 64:
        return
    if "/S" in node:
        yield str(node["/S"]), node
    kids = node.get("/K")
    if isinstance(kids, generic.ArrayObject):
        for kid in kids:
            yield from _structure(kid, depth + 1)
    elif kids is not None:
        yield from _structure(kids, depth + 1)


def test_each_thread_keeps_a_font_configuration_that_changes_no_byte(html: str) -> None:
    def render() -> bytes:
        return render_pdf(html, base_url=str(TEMPLATES_DIR), title="Certificate", lang="en")

    kept = [render(), render()]
    assert font_configuration() is font_configuration()
    fresh: dict[str, Any] = {}

    def in_a_new_thread() -> None:
        fresh.update(pdf=render(), config=font_configuration())

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join()
    assert fresh["config"] is not font_configuration()  # Pango's font map is not thread-safe
    assert kept[0] == kept[1] == fresh["pdf"]


def test_a_forked_process_renders_with_a_font_configuration_of_its_own(html: str) -> None:
    """Pango matches fonts in threads a fork does not copy: a child that used its
    parent's font map could wait forever (the render helper and RQ's work horses are
    forked from processes that may have rendered)."""
    render_pdf(html, base_url=str(TEMPLATES_DIR), title="Certificate", lang="en")
    parents = font_configuration()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        try:
            own = font_configuration() is not parents
            page = render_pdf(html, base_url=str(TEMPLATES_DIR), title="Certificate", lang="en")
            os.write(write_end, b"own" if own and page.startswith(b"%PDF") else b"shared")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 120)
        answer = os.read(read_end, 16) if ready else b"no answer in 120 s"
    finally:
        os.close(read_end)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert answer == b"own"
    assert font_configuration() is parents  # the parent keeps its own


def test_a4_certificate_also_fits_one_page() -> None:
    html = render_certificate_html(certificate_environment(), context(paper="A4"))
    pdf = render_pdf(html, base_url=str(TEMPLATES_DIR), attachments=[], title="t", lang="en")
    reader = PdfFileReader(BytesIO(pdf))
    assert int(reader.root["/Pages"]["/Count"]) == 1
    media_box = [float(value) for value in reader.root["/Pages"]["/Kids"][0]["/MediaBox"]]
    width, height = media_box[2] - media_box[0], media_box[3] - media_box[1]
    assert (round(width), round(height)) == (595, 842)


@pytest.mark.slow
def test_render_pdf_fetches_nothing_from_the_network_or_outside_base(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        outside = tmp_path.parent / "outside.css"
        html = (
            f'<html lang="en"><head><title>t</title><link rel="stylesheet" href="{origin}/a.css">'
            f'<link rel="stylesheet" href="{outside.as_uri()}"></head>'
            f'<body><p>x</p><img src="{origin}/b.png" alt="b"></body></html>'
        )
        outside.write_text("p { color: red }")
        pdf = render_pdf(html, base_url=str(tmp_path), attachments=[], title="t", lang="en")
    finally:
        server.shutdown()
        server.server_close()
    assert pdf.startswith(b"%PDF-")
    assert requests == []
    assert "refusing to read" in caplog.text and outside.as_uri() in caplog.text


# --- signatures ------------------------------------------------------------------------------


def test_pyhanko_finds_the_signature_intact_trusted_and_covering(
    signed_pdf: bytes, ca: pki.CertificateAuthority
) -> None:
    check = validate_pdf(signed_pdf, trust_roots=[ca.cert])
    assert check.ok, check.problems
    assert check.signed and check.intact and check.trusted and check.covers_whole_file
    assert check.modification_level == "none"
    assert check.signer_name == ISSUER
    assert check.reason == "Micro-credential awarded"
    assert check.location == "Nashville, Tennessee"
    assert check.signing_time is not None
    assert check.problems == []
    # trust roots may be given as PEM too
    assert validate_pdf(signed_pdf, trust_roots=[ca.cert_pem()]).ok


def test_signature_is_pades_and_certifies_no_changes(signed_pdf: bytes) -> None:
    reader = PdfFileReader(BytesIO(signed_pdf))
    signature = reader.embedded_signatures[0]
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    signed_attrs = signature.signer_info["signed_attrs"]
    assert "signing_certificate_v2" in [attr["type"].native for attr in signed_attrs]
    assert signature.docmdp_level is not None and signature.docmdp_level.value == 1
    # the signed document is still tagged and titled, and the invisible signature
    # widget is flagged hidden as PDF/UA asks of untagged annotations
    assert "/StructTreeRoot" in reader.root and str(reader.root["/Lang"]) == "en"
    widget = reader.root["/AcroForm"]["/Fields"][0]
    assert widget["/T"] == "IssuerSignature" and int(widget["/F"]) & 2


def test_embedded_credential_comes_back_byte_for_byte(
    unsigned_pdf: bytes, signed_pdf: bytes, ca: pki.CertificateAuthority
) -> None:
    assert validate_pdf(signed_pdf, trust_roots=[ca.cert]).credential_json == CREDENTIAL
    unsigned = validate_pdf(unsigned_pdf, trust_roots=[ca.cert])
    assert unsigned.credential_json == CREDENTIAL
    assert not unsigned.signed and not unsigned.ok
    assert unsigned.problems == ["The PDF carries no digital signature."]


def test_an_untrusted_root_is_reported_separately(signed_pdf: bytes) -> None:
    other_root = pki.create_root_ca("Someone Else's Root", algorithm="ecdsa-p256")
    check = validate_pdf(signed_pdf, trust_roots=[other_root.cert])
    assert check.intact and check.covers_whole_file
    assert not check.trusted and not check.ok
    assert any("trusted root" in problem for problem in check.problems)


@pytest.mark.slow
def test_pdfsig_does_not_trust_an_unknown_root(signed_pdf: bytes, tmp_path: Path) -> None:
    report = pdfsig(signed_pdf, nss_database(tmp_path / "empty-nss"), tmp_path)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." not in report, report


def _signed_attributes(signed: bytes) -> cms.CMSAttributes:
    return PdfFileReader(BytesIO(signed)).embedded_signatures[0].signer_info["signed_attrs"]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa-p256"])
def test_pdfsig_finds_signatures_valid_and_trusted_the_first_and_those_after(
    unsigned_pdf: bytes, algorithm: pki.KeyAlgorithm, tmp_path: Path
) -> None:
    """Each signature after an identity's first reuses the first one's signed
    attributes (see ``badges.pdf._KeySigner``): every one must verify everywhere."""
    ca = pki.create_root_ca("Microcred template Root", algorithm=algorithm)
    identity = pki.issue_signing_certificate(ca, ISSUER, algorithm=algorithm)
    other_pdf = render_pdf(
        "<p>Another certificate</p>", base_url=str(TEMPLATES_DIR), title="Another", lang="en"
    )
    nss = nss_database(tmp_path / "nss", ca.cert)
    documents = [unsigned_pdf, other_pdf, unsigned_pdf + b"\n"]
    signed = [sign(document, identity) for document in documents]

    digests = set()
    for index, document in enumerate(signed):
        check = validate_pdf(document, trust_roots=[ca.cert])
        assert check.ok, (index, check.problems)
        report = pdfsig(document, nss, tmp_path, name=f"signed-{index}.pdf")
        assert "Signature is Valid." in report, report
        assert "Certificate is Trusted." in report, report
        assert "Total document signed" in report, report
        assert f"Signer Certificate Common Name: {ISSUER}" in report, report
        assert "ETSI.CAdES.detached" in report, report
        attributes = {a["type"].native: a["values"][0] for a in _signed_attributes(document)}
        assert {"content_type", "message_digest", "signing_certificate_v2"} <= set(attributes)
        assert "signing_time" not in attributes  # PAdES: the time is in the dictionary
        digests.add(attributes["message_digest"].native)
    assert len(digests) == len(documents)  # each signature covers its own document


def test_the_attribute_template_gives_what_pyhanko_builds(identity: pki.SigningIdentity) -> None:
    signer, _ = pdf_module._signer(identity.key, identity.cert, tuple(identity.chain))
    settings = PdfCMSSignedAttributes()

    def attributes(digest: bytes, *, own: bool = False, **options: Any) -> bytes:
        method = SimpleSigner.signed_attrs if own else type(signer).signed_attrs
        options = {"attr_settings": settings, "use_pades": True, **options}
        return asyncio.run(method(signer, digest, "sha256", **options)).dump()

    first, second = hashlib.sha256(b"first").digest(), hashlib.sha256(b"second").digest()
    assert attributes(first) == attributes(first, own=True)
    assert attributes(second) == attributes(second, own=True)
    assert second in attributes(second) and first not in attributes(second)

    # Outside PAdES a signing time is signed too: never taken from a template.
    times = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 6, 1, tzinfo=dt.UTC)]
    for signing_time in times * 2:
        settings = PdfCMSSignedAttributes(signing_time=signing_time)
        built = attributes(first, use_pades=False)
        assert built == attributes(first, own=True, use_pades=False)
        signed_time = {
            a["type"].native: a["values"][0].native for a in cms.CMSAttributes.load(built)
        }["signing_time"]
        assert signed_time == signing_time


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        (append_bytes, "coverage"),
        (incremental_text_change, "coverage"),
        (flip_signed_byte, "digest"),
    ],
    ids=["bytes-after-eof", "incremental-update", "flipped-byte"],
)
def test_tampering_is_detected_by_pyhanko_and_pdfsig(
    signed_pdf: bytes,
    ca: pki.CertificateAuthority,
    trusting_nss: str,
    tamper: Any,
    broken: str,
    tmp_path: Path,
) -> None:
    tampered = tamper(signed_pdf)
    assert tampered != signed_pdf

    check = validate_pdf(tampered, trust_roots=[ca.cert])
    assert check.signed and not check.ok
    report = pdfsig(tampered, trusting_nss, tmp_path)
    if broken == "coverage":
        assert check.intact and check.trusted and not check.covers_whole_file
        assert any("whole file" in problem for problem in check.problems)
        assert "Not total document signed" in report, report
        assert "Total document signed" not in report, report
    else:
        assert not check.intact and not check.trusted
        assert any("altered" in problem for problem in check.problems)
        assert "Signature is Valid." not in report, report
        assert "Digest Mismatch" in report or "Signature is Invalid" in report, report


@pytest.mark.slow
def test_incremental_update_is_a_real_edit(
    signed_pdf: bytes, ca: pki.CertificateAuthority, tmp_path: Path
) -> None:
    tampered = incremental_text_change(signed_pdf)
    assert "Forged Name" in pdftotext(tampered, tmp_path)
    assert validate_pdf(tampered, trust_roots=[ca.cert]).modification_level == "other"


def test_a_swapped_credential_is_caught_and_the_signed_one_returned(
    signed_pdf: bytes, ca: pki.CertificateAuthority
) -> None:
    tampered = replace_credential(signed_pdf)
    reader = PdfFileReader(BytesIO(tampered))
    assert (
        reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1]["/EF"]["/F"].data
        == b'{"forged": true}'
    )

    check = validate_pdf(tampered, trust_roots=[ca.cert])
    assert not check.ok and not check.covers_whole_file
    assert check.credential_json == CREDENTIAL


def test_garbage_is_reported_not_raised(ca: pki.CertificateAuthority) -> None:
    check = validate_pdf(b"%PDF-1.7\nnot really a pdf", trust_roots=[ca.cert])
    assert not check.signed and not check.ok and check.problems


@pytest.mark.slow
def test_pdftotext_reads_name_title_and_verification_url(signed_pdf: bytes, tmp_path: Path) -> None:
    text = pdftotext(signed_pdf, tmp_path)
    assert EDUCATOR in text
    assert TITLE in text
    assert VERIFY_URL in text
    assert f"Signed digitally by {ISSUER}" in text
    assert BADGE_ID in text


# --- keys and certificates ------------------------------------------------------------------------


def test_signing_certificate_profile(
    identity: pki.SigningIdentity, ca: pki.CertificateAuthority
) -> None:
    cert = identity.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ISSUER
    assert cert.issuer == ca.cert.subject
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert pki.DOCUMENT_SIGNING_EKU in purposes
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in purposes
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3 * 365) <= lifetime <= dt.timedelta(days=3 * 366 + 1)
    cert.verify_directly_issued_by(ca.cert)
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_chain_pem_runs_from_leaf_to_root(
    identity: pki.SigningIdentity, ca: pki.CertificateAuthority
) -> None:
    chain = pki.load_certificates(identity.chain_pem())
    assert chain == [identity.cert, ca.cert]
    assert identity.root == ca.cert


def test_keys_are_stored_encrypted_and_read_back(identity: pki.SigningIdentity) -> None:
    stored = pki.serialize_private_key(identity.key, "correct horse battery staple")
    assert b"ENCRYPTED PRIVATE KEY" in stored
    loaded = pki.load_private_key(stored, "correct horse battery staple")
    assert loaded.public_key().public_numbers() == identity.key.public_key().public_numbers()
    with pytest.raises(pki.PKIError):
        pki.load_private_key(stored, "wrong passphrase")
    with pytest.raises(pki.PKIError):
        pki.serialize_private_key(identity.key, "")


def test_a_configured_identity_loads_from_pem_and_signs(
    identity: pki.SigningIdentity, ca: pki.CertificateAuthority, unsigned_pdf: bytes
) -> None:
    loaded = pki.load_signing_identity(
        pki.certificate_to_pem(identity.cert),
        pki.serialize_private_key(identity.key, b"s3cret"),
        ca.cert_pem() + pki.certificate_to_pem(pki.create_root_ca("Unrelated").cert),
        passphrase=b"s3cret",
    )
    assert loaded.cert == identity.cert and loaded.chain == (ca.cert,)
    # the whole chain in one bundle works too
    bundled = pki.load_signing_identity(
        identity.chain_pem(), pki.serialize_private_key(identity.key, "p"), passphrase="p"
    )
    assert bundled.chain == (ca.cert,)
    assert validate_pdf(sign(unsigned_pdf, loaded), trust_roots=[ca.cert]).ok


def test_a_key_that_does_not_match_the_certificate_is_refused(
    identity: pki.SigningIdentity,
) -> None:
    stranger = pki.generate_key("ecdsa-p256")
    with pytest.raises(pki.PKIError, match="does not belong"):
        pki.load_signing_identity(
            pki.certificate_to_pem(identity.cert),
            pki.serialize_private_key(stranger, "p"),
            passphrase="p",
        )
