"""Certificate PDFs: render (WeasyPrint, tagged PDF/UA-1), sign (pyHanko, PAdES) and check.

Pure library code: nothing here needs a database or a Flask request.

Typical issuance::

    html = render_certificate_html(env, context)          # or your own template
    pdf = render_pdf(html, base_url=..., title=certificate_title(context), lang="en",
                     attachments=[(CREDENTIAL_FILENAME, signed_vc_json, "Signed credential")])
    signed = sign_pdf(pdf, key=identity.key, cert=identity.cert, chain=identity.chain,
                      reason=..., location=..., signer_name=issuer_name)

and verification::

    check = validate_pdf(signed, trust_roots=[root_cert])
    if check.ok: verify(check.credential_json) ...

The signature is a PAdES baseline B-B signature (``ETSI.CAdES.detached`` with a
signing-certificate-v2 attribute) made as a *certification* signature that allows
no changes, so viewers such as Acrobat also flag any later edit.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import segno
from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash
from weasyprint import HTML, Attachment, Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from badges.pki import SigningKey, signer_display_name

log = logging.getLogger(__name__)

CREDENTIAL_FILENAME = "credential.json"
CERTIFICATE_TEMPLATE = "badges/certificate.html"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
PDF_VARIANT = "pdf/ua-1"
SIGNATURE_FIELD = "IssuerSignature"
PAPER_SIZES = {"letter", "a4"}
_RENDER_OPTIONS: dict[str, Any] = {"pdf_variant": PDF_VARIANT, "pdf_tags": True}

#: The image URL a certificate's HTML may use for its QR code, when the code is made
#: apart from the HTML (see :func:`layout_pdf`'s ``resources``).
QR_SOURCE = "microcred-qr:verification-url"

#: (file name, content, description) of a file to embed in the PDF.
AttachmentSpec = tuple[str, bytes, str]


# --- QR code ------------------------------------------------------------------------


def qr_svg(url: str) -> str:
    """An SVG document (no XML declaration) with a QR code for ``url``.

    Error correction M (boosted when it costs nothing), a quiet zone of 4 modules as
    the QR spec asks, black on white so that every phone camera reads it in print.
    """
    qr = segno.make(url, error="m", micro=False, boost_error=True)
    buffer = BytesIO()
    qr.save(
        buffer,
        kind="svg",
        xmldecl=False,
        nl=False,
        border=4,
        dark="#000",
        light="#fff",
        title=f"QR code linking to {url}",
    )
    return buffer.getvalue().decode()


def qr_data_uri(url: str) -> str:
    """:func:`qr_svg` as a ``data:`` URI for ``<img src>`` (base64, so no escaping
    issues whatever the URL contains)."""
    return "data:image/svg+xml;base64," + base64.b64encode(qr_svg(url).encode()).decode()


# --- HTML ----------------------------------------------------------------------------


def certificate_environment() -> Environment:
    """A Jinja environment able to render :data:`CERTIFICATE_TEMPLATE` without Flask
    (autoescaping on; ``_`` falls back to an identity gettext)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"]),
    )


def certificate_title(context: Mapping[str, Any]) -> str:
    """The document title used for ``<title>`` and the PDF metadata."""
    if context.get("document_title"):
        return str(context["document_title"])
    return f"{context['credential_title']}: micro-credential certificate for {context['educator_name']}"


def _identity_gettext(message: str, **variables: Any) -> str:
    return message % variables if variables else message


def _format_date(value: Any, lang: str) -> tuple[str, str]:
    """(text shown, ISO 8601 value for ``<time datetime>``)."""
    if value is None or value == "":
        return "", ""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        if lang.lower().startswith("en"):
            return f"{value:%B} {value.day}, {value.year}", value.isoformat()
        return value.isoformat(), value.isoformat()
    return str(value), str(value)


#: Width of the text column beside the QR code on the narrower paper (A4), in points,
#: and the advance of one monospace character in em (DejaVu/Liberation Mono).
URL_COLUMN_PT = 360
MONO_ADVANCE_EM = 0.602


def _url_font_size(url: str) -> float:
    """A font size that keeps the verification URL on one line (so it can be read,
    typed and searched as one string), between 6 and 9 pt; longer URLs wrap."""
    size = URL_COLUMN_PT / (MONO_ADVANCE_EM * max(len(url), 1))
    return round(max(6.0, min(9.0, size)), 2)


def render_certificate_html(env: Environment, context: Mapping[str, Any]) -> str:
    """Render the certificate template with ``env`` (a Flask app's ``jinja_env`` or
    :func:`certificate_environment`).

    ``context`` keys (plain values; dates may be ``date`` objects or preformatted text):

    required: ``educator_name`` (legal name), ``credential_title``, ``credential_code``,
    ``credential_version``, ``competency_statement``, ``issuer_name``, ``issued_on``,
    ``pd_hours``, ``criteria`` (sequence of mappings with ``name``, ``level`` and
    optional ``description``), ``verification_url``, ``badge_id``;

    optional: ``lang`` ("en"), ``paper`` ("letter" or "A4"), ``theme``,
    ``license_number``, ``license_state``, ``issuer_provider_id``,
    ``credit_granting_body``, ``activity_start``/``activity_end``,
    ``state_equivalents`` (list of lines such as "Tennessee: 6 PDPs"),
    ``review_method``, ``criteria_url``, ``expires_on``, ``document_title``,
    ``qr_data_uri`` (computed from ``verification_url`` when absent).
    """
    template = env.get_template(CERTIFICATE_TEMPLATE)
    autoescape = env.autoescape
    if callable(autoescape):
        autoescape = autoescape(CERTIFICATE_TEMPLATE)
    if not autoescape:
        raise ValueError("the Jinja environment must autoescape HTML templates")

    lang = str(context.get("lang") or "en")
    paper = str(context.get("paper") or "letter")
    if paper.lower() not in PAPER_SIZES:
        raise ValueError(f"paper must be 'letter' or 'A4', not {paper!r}")
    issued_on, issued_on_iso = _format_date(context["issued_on"], lang)
    expires_on, expires_on_iso = _format_date(context.get("expires_on"), lang)
    start, _ = _format_date(context.get("activity_start"), lang)
    end, _ = _format_date(context.get("activity_end"), lang)
    activity_period = " \N{EN DASH} ".join(part for part in (start, end) if part)

    values: dict[str, Any] = {
        "theme": None,
        "license_number": None,
        "license_state": None,
        "issuer_provider_id": None,
        "credit_granting_body": None,
        "state_equivalents": [],
        "review_method": None,
        "criteria_url": None,
        **context,
        "lang": lang,
        "paper": "A4" if paper.lower() == "a4" else "letter",
        "document_title": certificate_title(context),
        "issued_on": issued_on,
        "issued_on_iso": issued_on_iso,
        "expires_on": expires_on,
        "expires_on_iso": expires_on_iso,
        "activity_period": activity_period,
        "qr_data_uri": context.get("qr_data_uri") or qr_data_uri(context["verification_url"]),
        "url_font_size": _url_font_size(str(context["verification_url"])),
    }
    if "_" not in env.globals and "_" not in values:
        values["_"] = _identity_gettext
    return template.render(values)


# --- rendering -------------------------------------------------------------------------

_fonts = threading.local()
#: Configurations a forked process inherited: never used, never freed (see below).
_inherited_fonts: list[FontConfiguration] = []


def font_configuration() -> FontConfiguration:
    """This thread's WeasyPrint font configuration, kept from one render to the next.

    WeasyPrint makes a fresh one per document unless given one, so every page starts
    with Pango's font map, fonts, metrics and shaping caches cold; kept, a certificate
    renders about 13% faster, byte for byte the same. One per thread, because Pango's
    font map is not thread-safe, and one per process: Pango matches fonts in helper
    threads, which a fork does not copy, so a font map inherited from a process that
    rendered can wait forever for their answers. An inherited one is set aside without
    being freed, since freeing it could wait on them just the same. (Fonts from
    ``@font-face`` rules would stay loaded for the thread's life; our templates use
    the system's fonts only.)
    """
    kept: tuple[int, FontConfiguration] | None = getattr(_fonts, "kept", None)
    if kept is None or kept[0] != os.getpid():
        if kept is not None:
            _inherited_fonts.append(kept[1])
        kept = _fonts.kept = (os.getpid(), FontConfiguration())
    return kept[1]


class _LocalFetcher(URLFetcher):
    """Fetches ``data:`` URLs, files under the base directory and the resources it is
    given; nothing else, so a certificate never depends on (or leaks requests to)
    the network."""

    def __init__(self, base_url: str | None, resources: Mapping[str, str] | None = None) -> None:
        super().__init__(allowed_protocols={"data", "file"}, fail_on_errors=False)
        self._root = _local_dir(base_url)
        self._resources = dict(resources or {})
        if any(not uri.startswith("data:") for uri in self._resources.values()):
            raise ValueError("resources must be data: URIs")

    def fetch(self, url: str, headers: Any = None) -> Any:
        url = self._resources.get(url, url)
        if url.startswith("file:"):
            path = Path(url2pathname(unquote(urlsplit(url).path))).resolve()
            if self._root is None or not path.is_relative_to(self._root):
                raise ValueError(f"refusing to read {url} outside the base directory")
        return super().fetch(url, headers)


def _local_dir(base_url: str | None) -> Path | None:
    if not base_url:
        return None
    if base_url.startswith("file:"):
        path = Path(url2pathname(unquote(urlsplit(base_url).path)))
    elif "://" in base_url:
        return None
    else:
        path = Path(base_url)
    path = path.resolve()
    return path if path.is_dir() else path.parent


def render_pdf(
    html: str,
    *,
    base_url: str,
    attachments: Sequence[AttachmentSpec] = (),
    title: str,
    lang: str,
    resources: Mapping[str, str] | None = None,
) -> bytes:
    """Render ``html`` to a tagged PDF/UA-1 document with ``attachments`` embedded.

    The title and language given here win over the HTML's ``<title>`` and
    ``<html lang>``; both end up in the document information, the XMP metadata and
    the catalog (``/Lang``). Only ``data:`` URLs and files below ``base_url`` are
    fetched, and the ``resources`` given (see :func:`layout_pdf`).
    """
    document = layout_pdf(html, base_url=base_url, title=title, lang=lang, resources=resources)
    return write_pdf(document, attachments)


def layout_pdf(
    html: str,
    *,
    base_url: str,
    title: str,
    lang: str,
    resources: Mapping[str, str] | None = None,
) -> Document:
    """The first half of :func:`render_pdf`: the laid-out pages, before any attachment
    is known (so a caller can lay out while it is still signing what it attaches).

    ``resources`` maps URLs the HTML uses (such as :data:`QR_SOURCE`) to the
    ``data:`` URIs that stand for them.
    """
    if not title.strip() or not lang.strip():
        raise ValueError("a tagged PDF needs a title and a language")
    fetcher = _LocalFetcher(base_url, resources)
    document = HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
        font_config=font_configuration(), **_RENDER_OPTIONS
    )
    document.metadata.title = title
    document.metadata.lang = lang
    return document


def write_pdf(document: Document, attachments: Sequence[AttachmentSpec] = ()) -> bytes:
    """The second half of :func:`render_pdf`: the PDF file with ``attachments``."""
    names = [name for name, _, _ in attachments]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate attachment names: {names}")
    pdf_attachments = [
        Attachment(
            string=bytes(content),
            name=name,
            description=description,
            relationship="Source" if name == CREDENTIAL_FILENAME else "Supplement",
        )
        for name, content, description in attachments
    ]
    pdf = document.write_pdf(attachments=pdf_attachments, **_RENDER_OPTIONS)
    assert pdf is not None
    return pdf


# --- signing -----------------------------------------------------------------------------


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


#: The signed attributes of a PAdES signature that depend on nothing but the signer,
#: the algorithms and the document's digest (PAdES puts the signing time in the
#: signature dictionary, not in the CMS).
_TEMPLATE_ATTRIBUTES = frozenset(
    {"content_type", "message_digest", "signing_certificate_v2", "cms_algorithm_protection"}
)


class _KeySigner(signers.SimpleSigner):
    """A :class:`SimpleSigner` that keeps the parsed private key and its signed
    attributes.

    ``SimpleSigner.sign_raw`` re-parses the DER key on every call, and parsing an RSA
    key makes OpenSSL check it (about 0.25 s for 3072 bits), twice per PDF because
    pyHanko also signs once to size the signature container.

    Building the signed attributes with asn1crypto, and then re-encoding everything
    built on them, took two thirds of a signature's time. From one PDF to the next
    they differ in the document's digest only, so the first signature's attributes
    are kept as DER and later ones are that DER with their own digest. A template is
    kept only if it holds nothing but :data:`_TEMPLATE_ATTRIBUTES` and its digest is
    the one place it differs from pyHanko's own build for another digest; otherwise
    every signature is built by pyHanko, as before.
    """

    def __init__(self, key: SigningKey, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._key = key
        self._attribute_templates: dict[tuple[Any, ...], tuple[bytes, bytes] | None] = {}

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: Any = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        options: dict[str, Any] = {
            "attr_settings": attr_settings,
            "content_type": content_type,
            "use_pades": use_pades,
            "timestamper": timestamper,
            "dry_run": dry_run,
            "is_pdf_sig": is_pdf_sig,
        }
        extras = attr_settings is not None and (
            attr_settings.cades_signed_attrs is not None
            or attr_settings.adobe_revinfo_attr is not None
        )
        key = (digest_algorithm, content_type, dry_run, is_pdf_sig)
        template = self._attribute_templates.get(key)
        # Outside PAdES the signing time is signed; a timestamper or extra attributes
        # are settings a template would not see: pyHanko builds those every time, and
        # those whose first build could not serve as a template.
        if (
            timestamper is not None
            or not use_pades
            or extras
            or (template is None and key in self._attribute_templates)
        ):
            return await super().signed_attrs(data_digest, digest_algorithm, **options)
        if template is not None:
            der, placeholder = template
            return cms.CMSAttributes.load(der.replace(placeholder, data_digest))
        placeholder = secrets.token_bytes(len(data_digest))
        built = await super().signed_attrs(placeholder, digest_algorithm, **options)
        attributes = await super().signed_attrs(data_digest, digest_algorithm, **options)
        der = built.dump()
        reusable = (
            {attribute["type"].native for attribute in built} <= _TEMPLATE_ATTRIBUTES
            and der.count(placeholder) == 1
            and der.replace(placeholder, data_digest) == attributes.dump()
        )
        self._attribute_templates[key] = (der, placeholder) if reusable else None
        return attributes

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), hash_algo)
        if mechanism == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)


@functools.lru_cache(maxsize=32)
def _signer(
    key: SigningKey, cert: x509.Certificate, chain: tuple[x509.Certificate, ...]
) -> tuple[_KeySigner, int]:
    """A reusable signer for one identity, and the room its CMS blob needs.

    Kept between signatures: converting the certificates and key to asn1crypto
    and indexing them costs a few milliseconds per PDF.
    """
    leaf = _asn1_cert(cert)
    others = [_asn1_cert(c) for c in chain if c != cert]
    private_key = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = _KeySigner(
        key,
        signing_cert=leaf,
        signing_key=private_key,
        cert_registry=SimpleCertificateStore.from_certs([leaf, *others]),
    )
    # Room for the CMS blob (hex-encoded, hence twice its size): the certificates
    # plus a generous 4 KiB for the signature value and the signed attributes.
    # Sizing it here spares pyHanko a dry-run signature.
    return signer, sum(len(c.dump()) for c in (leaf, *others)) + 4096


def forget_signers() -> None:
    """Drop the signers kept by :func:`sign_pdf`, and the private keys they hold."""
    _signer.cache_clear()


@functools.cache
def _blank_pdf() -> bytes:
    """A one-page empty PDF, made without WeasyPrint (so without Pango: see
    :func:`font_configuration` on why a process about to fork must not render)."""
    writer = PdfFileWriter()
    letter = [generic.NumberObject(n) for n in (0, 0, 612, 792)]
    writer.insert_page(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(letter),
                generic.NameObject("/Resources"): generic.DictionaryObject(),
            }
        )
    )
    output = BytesIO()
    writer.write(output)
    return output.getvalue()


def prepare_signer(
    key: SigningKey, cert: x509.Certificate, chain: Iterable[x509.Certificate]
) -> None:
    """Build this identity's signer, and its signed-attribute template, by signing a
    blank page: a worker does it before it forks work horses, which then sign their
    first certificate as fast as their last."""
    sign_pdf(
        _blank_pdf(),
        key=key,
        cert=cert,
        chain=chain,
        reason="Signer preparation",
        location="",
        signer_name="",
    )


def sign_pdf(
    pdf: bytes,
    *,
    key: SigningKey,
    cert: x509.Certificate,
    chain: Iterable[x509.Certificate],
    reason: str,
    location: str,
    signer_name: str,
) -> bytes:
    """Sign ``pdf`` (PAdES B-B, SHA-256) as an incremental update covering the whole file.

    ``chain`` holds the CA certificates above ``cert`` (the root may be included);
    they are embedded in the signature so validators can build the path.
    """
    signer, cms_size = _signer(key, cert, tuple(chain))
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    # The signature field's widget is invisible and untagged: PDF/UA wants such an
    # annotation flagged hidden (PDF/A would want it printable; we are PDF/UA).
    field_spec = fields.SigFieldSpec(
        sig_field_name=SIGNATURE_FIELD,
        invis_sig_settings=fields.InvisSigSettings(set_print_flag=False, set_hidden_flag=True),
    )
    output = signers.sign_pdf(
        writer,
        metadata,
        signer=signer,
        new_field_spec=field_spec,
        bytes_reserved=2 * cms_size,
    )
    return output.getvalue()


# --- validation ---------------------------------------------------------------------------


@dataclass
class PdfCheck:
    """What :func:`validate_pdf` found, one finding per attribute.

    ``ok`` is the verdict: signed, intact, trusted and covering the whole file.
    ``credential_json`` is the embedded ``credential.json`` as signed (taken from
    the signed revision when there is a signature); verify it separately.
    """

    signed: bool = False
    intact: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    modification_level: str | None = None
    signer_name: str | None = None
    signer_certificate: x509.Certificate | None = None
    signing_time: dt.datetime | None = None
    reason: str | None = None
    location: str | None = None
    credential_json: bytes | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.trusted and self.covers_whole_file


def _trust_root(root: x509.Certificate | bytes | str) -> asn1_x509.Certificate:
    if isinstance(root, x509.Certificate):
        return _asn1_cert(root)
    data = root.encode() if isinstance(root, str) else root
    if b"-----BEGIN" in data:
        return _asn1_cert(x509.load_pem_x509_certificate(data))
    return asn1_x509.Certificate.load(data)


def validate_pdf(pdf: bytes, *, trust_roots: Iterable[x509.Certificate | bytes | str]) -> PdfCheck:
    """Check the PDF's signature against ``trust_roots`` and extract ``credential.json``.

    Never raises on a bad document: every problem is reported in
    :attr:`PdfCheck.problems` and the matching flag stays ``False``.
    """
    check = PdfCheck()
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        signatures = reader.embedded_regular_signatures
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        check.problems.append(f"The file cannot be read as a PDF ({exc}).")
        return check

    if not signatures:
        check.problems.append("The PDF carries no digital signature.")
        check.credential_json = _embedded_file(lambda: reader.root, CREDENTIAL_FILENAME)
        return check
    check.signed = True
    if len(signatures) > 1:
        check.problems.append(
            f"The PDF carries {len(signatures)} signatures; the issuer's is the first, "
            "so the later ones change the document after it was signed."
        )
    signature = signatures[0]
    check.credential_json = _embedded_file(
        lambda: reader.get_historical_root(signature.signed_revision), CREDENTIAL_FILENAME
    )
    if check.credential_json is None:
        check.problems.append(f"The signed PDF has no embedded {CREDENTIAL_FILENAME}.")

    try:
        roots = [_trust_root(root) for root in trust_roots]
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = validate_pdf_signature(
            signature,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(
                key_usage={"digital_signature", "non_repudiation"}
            ),
        )
    except Exception as exc:  # pyHanko raises many types on hostile input
        log.info("PDF signature validation failed", exc_info=True)
        check.problems.append(f"The signature cannot be validated ({exc}).")
        return check

    check.signer_certificate = x509.load_der_x509_certificate(status.signing_cert.dump())
    check.signer_name = signer_display_name(check.signer_certificate)
    check.signing_time = status.signer_reported_dt
    check.reason = _text(signature.sig_object.get("/Reason"))
    check.location = _text(signature.sig_object.get("/Location"))
    check.intact = bool(status.intact and status.valid)
    if not check.intact:
        check.problems.append(
            "The signature does not match the document: the signed content was altered."
        )
    check.trusted = bool(status.trusted)
    if check.intact and not check.trusted:
        indication = status.trust_problem_indic
        why = f" ({indication.name.lower()})" if indication is not None else ""
        check.problems.append(f"The signer's certificate does not chain to a trusted root{why}.")
    elif not check.intact:
        check.problems.append("The signer's certificate was not checked: the signature is broken.")
    byte_range = list(signature.byte_range)
    range_ends_at_eof = len(byte_range) == 4 and byte_range[2] + byte_range[3] == len(pdf)
    check.covers_whole_file = (
        status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        and range_ends_at_eof
        and len(signatures) == 1
    )
    if not check.covers_whole_file:
        check.problems.append(
            "The signature does not cover the whole file: something was added after signing."
        )
    level = status.modification_level
    check.modification_level = level.name.lower() if level is not None else None
    return check


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return _key_text(value)


def _embedded_file(get_root: Any, name: str) -> bytes | None:
    """The content of the embedded file called ``name``, or None."""
    try:
        root = get_root()
        names = root.get("/Names")
        if names is None or "/EmbeddedFiles" not in names:
            return None
        for key, spec in _name_tree_items(names["/EmbeddedFiles"]):
            filename = _text(spec.get("/UF")) or _text(spec.get("/F")) or key
            if filename == name or key == name:
                return spec["/EF"]["/F"].data
    except (PdfError, KeyError, TypeError, ValueError, AttributeError):
        log.info("cannot read embedded file %s", name, exc_info=True)
    return None


def _name_tree_items(node: Any, depth: int = 0) -> Iterable[tuple[str, Any]]:
    if depth > 32:
        return
    entries = node.get("/Names", ())
    for index in range(0, len(entries) - 1, 2):
        yield _key_text(entries[index]), entries[index + 1]
    for kid in node.get("/Kids", ()):
        yield from _name_tree_items(kid.get_object(), depth + 1)


def _key_text(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("latin-1")
    return str(key)
