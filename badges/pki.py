"""Keys and X.509 certificates for signing badge PDFs (PAdES).

Two ways to get a signing identity:

* Development, tests and small deployments: :func:`create_root_ca` makes a local
  self-signed root, and :func:`issue_signing_certificate` gives each issuer a
  document-signing certificate signed by it. Verifiers (a state licensure office)
  are given the root to trust.
* Production: :func:`load_signing_identity` loads a certificate, its key and the
  chain up to the root bought from (or issued by) a real CA, all in PEM.

Private keys are never written anywhere by this module; :func:`serialize_private_key`
returns them encrypted with a passphrase (PKCS#8, ``BestAvailableEncryption``) so the
caller can store them at rest, and :func:`load_private_key` reads them back.

RSA (3072 bits by default) is what every validator handles, including poppler's
``pdfsig`` (NSS) and older Acrobat releases; ECDSA P-256 is offered too and is
validated by pyHanko and pdfsig alike. Ed25519 is deliberately not offered here:
NSS builds shipped with poppler do not verify Ed25519 CMS signatures yet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

KeyAlgorithm = Literal["rsa", "ecdsa-p256"]
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_KEY_SIZE = 3072
#: id-kp-documentSigning (RFC 9336).
DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
#: Backdate ``notBefore`` a little so that clock skew between the machine that signs
#: and the one that validates does not make a fresh certificate "not yet valid".
CLOCK_SKEW = dt.timedelta(minutes=5)


class PKIError(ValueError):
    """A key, certificate or chain is unusable (wrong passphrase, key/cert mismatch,
    broken chain, wrong key usage...)."""


@dataclass(frozen=True)
class CertificateAuthority:
    """A local root: its key signs the issuers' document-signing certificates."""

    key: SigningKey
    cert: x509.Certificate

    def cert_pem(self) -> bytes:
        return certificate_to_pem(self.cert)


@dataclass(frozen=True)
class SigningIdentity:
    """What :func:`badges.pdf.sign_pdf` needs: the signer's key and certificate and
    the chain of CA certificates above it (intermediates first, root last)."""

    key: SigningKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default_factory=tuple)

    @property
    def root(self) -> x509.Certificate:
        """The topmost certificate of the chain (the leaf itself if self-signed)."""
        return self.chain[-1] if self.chain else self.cert

    def chain_pem(self) -> bytes:
        """PEM of the leaf followed by every CA certificate up to the root."""
        return certificates_to_pem([self.cert, *self.chain])


# --- keys -----------------------------------------------------------------------


def generate_key(algorithm: KeyAlgorithm = "rsa") -> SigningKey:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise PKIError(f"unsupported key algorithm {algorithm!r} (use 'rsa' or 'ecdsa-p256')")


def serialize_private_key(key: SigningKey, passphrase: bytes | str) -> bytes:
    """PEM (PKCS#8) of ``key`` encrypted with ``passphrase``, safe to store at rest."""
    secret = _passphrase_bytes(passphrase)
    if not secret:
        raise PKIError("a non-empty passphrase is required to store a private key")
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.BestAvailableEncryption(secret),
    )


def load_private_key(
    pem: bytes | str,
    passphrase: bytes | str | None = None,
    *,
    skip_rsa_check: bool = False,
) -> SigningKey:
    """Read a PEM private key (encrypted when ``passphrase`` is given).

    OpenSSL checks an RSA key's consistency when loading it, which takes about a
    quarter of a second for 3072 bits. ``skip_rsa_check=True`` skips that for keys
    this application generated itself and stored encrypted; better still, load a
    key once and keep the :class:`SigningIdentity` around.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(
            data,
            password=_passphrase_bytes(passphrase) if passphrase is not None else None,
            unsafe_skip_rsa_key_validation=skip_rsa_check,
        )
    except (ValueError, TypeError) as exc:
        raise PKIError(f"cannot read the private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PKIError(f"unsupported private key type {type(key).__name__} (use RSA or ECDSA)")
    return key


def _passphrase_bytes(passphrase: bytes | str | None) -> bytes:
    if passphrase is None:
        return b""
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


# --- certificates -----------------------------------------------------------------


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def certificates_to_pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(certificate_to_pem(cert) for cert in certs)


def load_certificates(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or a single DER certificate)."""
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        return []
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificates(raw)
        return [x509.load_der_x509_certificate(raw)]
    except ValueError as exc:
        raise PKIError(f"cannot read certificates: {exc}") from exc


def _name(common_name: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _years(start: dt.datetime, years: int) -> dt.datetime:
    if years < 1:
        raise PKIError("validity must be at least one year")
    return start + dt.timedelta(days=365 * years + years // 4)


def create_root_ca(
    common_name: str,
    *,
    organization: str | None = None,
    years: int = 20,
    algorithm: KeyAlgorithm = "rsa",
    key: SigningKey | None = None,
) -> CertificateAuthority:
    """A self-signed root certificate that may only sign end-entity certificates."""
    key = key or generate_key(algorithm)
    name = _name(common_name, organization)
    not_before = _now() - CLOCK_SKEW
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(_years(not_before, years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key=key, cert=cert)


def issue_signing_certificate(
    ca: CertificateAuthority,
    issuer_name: str,
    *,
    years: int = 3,
    algorithm: KeyAlgorithm = "rsa",
    key: SigningKey | None = None,
    email: str | None = None,
    url: str | None = None,
) -> SigningIdentity:
    """A document-signing certificate for one badge issuer, signed by ``ca``.

    Subject CN and O are the issuer's name (what PDF readers show as "Signed by").
    Key usage: digitalSignature + nonRepudiation; extended key usage: document
    signing (RFC 9336) and, because NSS-based validators such as poppler's pdfsig
    check PDF signatures against the e-mail signing usage, emailProtection.
    The certificate never outlives the root.
    """
    key = key or generate_key(algorithm)
    not_before = _now() - CLOCK_SKEW
    not_after = min(_years(not_before, years), ca.cert.not_valid_after_utc)
    public_key = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(issuer_name, issuer_name))
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    alt_names: list[x509.GeneralName] = []
    if email:
        alt_names.append(x509.RFC822Name(email))
    if url:
        alt_names.append(x509.UniformResourceIdentifier(url))
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return SigningIdentity(key=key, cert=cert, chain=(ca.cert,))


def load_signing_identity(
    cert_pem: bytes | str,
    key_pem: bytes | str,
    chain_pem: bytes | str = b"",
    *,
    passphrase: bytes | str | None = None,
) -> SigningIdentity:
    """Load a configured (production) signing certificate, its key and its chain.

    ``cert_pem`` may itself be a bundle whose first certificate is the signer's;
    the rest of it and ``chain_pem`` are ordered into a path leaf → root (certificates
    that are not part of that path are dropped; a chain that stops short of the root
    is accepted, as verifiers hold the root). Raises :class:`PKIError` when the key
    does not match the certificate or the certificate's key usage forbids signing.
    """
    certs = load_certificates(cert_pem)
    if not certs:
        raise PKIError("no signing certificate given")
    leaf, extra = certs[0], certs[1:]
    key = load_private_key(key_pem, passphrase)
    if key.public_key().public_numbers() != leaf.public_key().public_numbers():
        raise PKIError("the private key does not belong to the signing certificate")
    _check_signing_usage(leaf)
    chain = order_chain(leaf, [*extra, *load_certificates(chain_pem)])
    return SigningIdentity(key=key, cert=leaf, chain=tuple(chain))


def _check_signing_usage(cert: x509.Certificate) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not (usage.digital_signature or usage.content_commitment):
        raise PKIError("the certificate's key usage does not allow signatures")


def order_chain(
    leaf: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The CA certificates above ``leaf``, nearest first, up to a self-signed root
    (or as far as ``candidates`` go). Unrelated certificates are dropped."""
    pool = {cert.fingerprint(hashes.SHA256()): cert for cert in candidates}
    pool.pop(leaf.fingerprint(hashes.SHA256()), None)
    path: list[x509.Certificate] = []
    current = leaf
    while not _is_self_signed(current):
        parent = next(
            (cert for cert in pool.values() if _issued_by(current, cert)),
            None,
        )
        if parent is None:
            break
        path.append(parent)
        pool.pop(parent.fingerprint(hashes.SHA256()))
        current = parent
    return path


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


def signer_display_name(cert: x509.Certificate) -> str:
    """The subject's common name (or the whole subject if it has none)."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names:
        value = names[0].value
        return value.decode() if isinstance(value, bytes) else value
    return cert.subject.rfc4514_string()
