"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite.

Implements W3C "Verifiable Credential Data Integrity 1.0" and "Data Integrity
EdDSA Cryptosuites v1.0" for JSON-LD credentials (Open Badges 3.0 on the VC Data
Model 2.0):

* transformation: RDFC-1.0 canonical N-Quads of the document without its proof;
* proof configuration: the proof without ``proofValue``, with the document's
  ``@context``, canonicalized the same way;
* hashData: SHA-256(canonical proof configuration) || SHA-256(canonical document);
* proofValue: multibase base58-btc of the Ed25519 signature of hashData.

JSON-LD contexts come only from ``badges/contexts`` (see its ``index.json``):
the service never fetches a context from the network, so what a signature
covers cannot change with a remote server. Any other context URL is refused.

Canonicalization: pyld expands the JSON-LD (one expansion serves both the
safe-mode check and the RDF; processed contexts, type-scoped ones included, are
kept per loader); pyoxigraph reads the expanded form as RDF and runs
RDFC-1.0. That is twice as fast as pyld's own RDF conversion and URDNA2015, and
it writes the RDF 1.2 canonical N-Quads escapes that Digital Bazaar's
rdf-canonize writes (pyld leaves control characters such as U+0001 raw).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph
from cachetools import LRUCache
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from frozendict import frozendict
from pyld import jsonld
from pyld.context_resolver import ContextResolver

from badges.multikey import MultikeyError, multibase_decode, multibase_encode

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
ASSERTION_METHOD = "assertionMethod"
CONTEXTS_DIR = Path(__file__).with_name("contexts")
ED25519_SIGNATURE_LENGTH = 64

# VC 2.0 maps terms no context defines into this vocabulary (through
# https://www.w3.org/ns/credentials/undefined-terms/v2); such terms are undefined.
UNDEFINED_TERMS_VOCABULARY = "https://www.w3.org/ns/credentials/issuer-dependent#"

XSD = "http://www.w3.org/2001/XMLSchema#"
XSD_BOOLEAN = XSD + "boolean"
XSD_INTEGER = XSD + "integer"
XSD_DOUBLE = XSD + "double"

_RESOLVED_CONTEXT_CACHE_SIZE = 1000
_SCOPED_CONTEXT_CACHE_SIZE = 4096
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
# xsd:dateTimeStamp as Data Integrity requires for "created" and "expires".
_DATE_TIME_STAMP = re.compile(
    r"^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
)


class DataIntegrityError(Exception):
    """A document cannot be canonicalized, signed or checked."""


class ContextNotAllowedError(DataIntegrityError):
    """A document names a JSON-LD context that the service does not ship."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"JSON-LD context {url!r} is not one the service ships; "
            "contexts are never fetched from the network"
        )
        self.url = url


class UnsafeDocumentError(DataIntegrityError):
    """A document uses terms that its contexts do not define (JSON-LD safe mode)."""

    def __init__(self, undefined_terms: list[str]) -> None:
        super().__init__(
            "terms not defined by the document's contexts: " + ", ".join(undefined_terms)
        )
        self.undefined_terms = undefined_terms


class StaticDocumentLoader:
    """A pyld document loader that serves a fixed set of JSON-LD contexts.

    It owns the cache of processed contexts, so parsing and resolving a context
    happens once per process. pyld's caches are not safe to share between
    threads; processing holds the loader's lock (the work is CPU-bound Python,
    so the lock costs no throughput under the GIL).
    """

    def __init__(self, contexts: Mapping[str, Any]) -> None:
        self._contexts = dict(contexts)
        self._resolved_contexts: LRUCache = LRUCache(maxsize=_RESOLVED_CONTEXT_CACHE_SIZE)
        #: Type-scoped contexts as processed (see :class:`_Expander`).
        self.scoped_contexts: LRUCache = LRUCache(maxsize=_SCOPED_CONTEXT_CACHE_SIZE)
        self.lock = threading.Lock()

    @classmethod
    def from_directory(cls, directory: Path) -> StaticDocumentLoader:
        index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
        return cls(
            {
                url: json.loads((directory / name).read_text(encoding="utf-8"))
                for url, name in index.items()
            }
        )

    def extended(self, contexts: Mapping[str, Any]) -> StaticDocumentLoader:
        """A new loader that also serves ``contexts`` (e.g. a test suite's examples context)."""
        return StaticDocumentLoader({**self._contexts, **contexts})

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            document = self._contexts[url]
        except KeyError:
            raise ContextNotAllowedError(url) from None
        # pyld rewrites context URLs inside what it is given; hand it a copy.
        # "static" lets pyld keep the resolved context for the life of this loader.
        return {
            "contextUrl": None,
            "documentUrl": url,
            "document": copy.deepcopy(document),
            "tag": "static",
        }

    def serves(self, url: str) -> bool:
        return url in self._contexts

    def processing_options(self) -> dict[str, Any]:
        return {
            "documentLoader": self,
            "contextResolver": ContextResolver(self._resolved_contexts, self),
            # No base IRI: a relative IRI stays relative, so safe mode can see it.
            "base": None,
        }


@functools.cache
def shipped_document_loader() -> StaticDocumentLoader:
    return StaticDocumentLoader.from_directory(CONTEXTS_DIR)


@dataclass(frozen=True)
class Canonicalized:
    """A document's canonical N-Quads and the terms its contexts do not define."""

    nquads: str
    undefined_terms: list[str]


def canonicalize(document: Mapping[str, Any], loader: StaticDocumentLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document."""
    return canonicalize_checked(document, loader).nquads


def find_undefined_terms(
    document: Mapping[str, Any], loader: StaticDocumentLoader | None = None
) -> list[str]:
    """JSON-LD safe mode: the terms and IRIs that the document's contexts leave undefined.

    That is every property JSON-LD expansion drops, every property or type
    that only becomes a relative IRI, every relative ``@id``, and every term
    that falls back to VC 2.0's "issuer-dependent" vocabulary. An empty list
    means every statement in the document is covered by a signature over it.
    """
    return _expand(document, loader or shipped_document_loader())[1]


def canonicalize_checked(
    document: Mapping[str, Any], loader: StaticDocumentLoader | None = None
) -> Canonicalized:
    """Canonicalize and run the safe-mode check from one JSON-LD expansion."""
    expanded, undefined_terms = _expand(document, loader or shipped_document_loader())
    return Canonicalized(_rdfc_1_0(expanded), undefined_terms)


class _Expander(jsonld.JsonLdProcessor):
    """pyld's processor with one more cache, for type-scoped contexts.

    pyld keeps a processed context keyed by the active context it was applied to.
    A type-scoped context (one that does not propagate) is applied to a copy of
    the active context, made afresh, with a fresh key, every time: so it missed
    that cache at every typed node of a credential, and re-defining those terms
    was half the time of a verification. Here such a result is kept by the
    active context that was copied and the context applied (the result is an
    immutable context, as pyld's own cached ones are).
    """

    def __init__(self, scoped_contexts: MutableMapping[tuple, tuple], **options: Any) -> None:
        super().__init__(**options)
        self._scoped_contexts = scoped_contexts

    def _process_context(
        self,
        active_ctx: Any,
        local_ctx: Any,
        options: Any,
        override_protected: bool = False,
        propagate: bool = True,
        validate_scoped: bool = True,
        cycles: Any = None,
    ) -> Any:
        arguments = (active_ctx, local_ctx, options, override_protected, propagate)
        parent = active_ctx.get("_uuid")
        if propagate or cycles or parent is None or "previousContext" in active_ctx:
            return super()._process_context(*arguments, validate_scoped, cycles)
        key = (parent, id(local_ctx), override_protected, validate_scoped)
        kept = self._scoped_contexts.get(key)
        if kept is not None and kept[0] is local_ctx and kept[1] is active_ctx:
            return kept[2]
        processed = super()._process_context(*arguments, validate_scoped, cycles)
        if isinstance(processed, frozendict):
            # local_ctx and active_ctx are kept too, so their ids are not reused
            self._scoped_contexts[key] = (local_ctx, active_ctx, processed)
        return processed


def _expand(document: Mapping[str, Any], loader: StaticDocumentLoader) -> tuple[list, list[str]]:
    dropped: list[str] = []

    def record_dropped(expanded_property: str | None) -> None:
        dropped.append(expanded_property or "(a term mapped to null)")

    try:
        _check_contexts(document, loader)
        with loader.lock:
            expanded = _Expander(loader.scoped_contexts, on_property_dropped=record_dropped).expand(
                dict(document), loader.processing_options()
            )
        undefined = dropped + list(_undefined_iris(expanded))
    except jsonld.JsonLdError as error:
        refused = _refused_context(error)
        if refused is not None:
            raise ContextNotAllowedError(refused.url) from error
        raise DataIntegrityError(f"invalid JSON-LD: {error}") from error
    except RecursionError as error:
        raise DataIntegrityError("the document is nested too deeply to be read") from error
    return expanded, list(dict.fromkeys(undefined))


def _check_contexts(value: Any, loader: StaticDocumentLoader) -> None:
    """Refuse, before pyld sees the document, what would let one document change how
    later ones expand or make the answer depend on what pyld has cached:

    * ``@import`` anywhere: pyld merges an inline context into its cached copy of
      the context it imports (and no context the service ships uses it);
    * a context named by a string the loader does not serve: pyld would look it up
      in its cache, where inline contexts seen before are kept by their JSON text.
    """
    if isinstance(value, Mapping):
        if "@import" in value:
            raise DataIntegrityError(
                "an inline JSON-LD context may not use @import: credentials name the "
                "contexts they use by URL"
            )
        named = value.get("@context")
        for context in named if isinstance(named, list) else [named]:
            if isinstance(context, str) and not loader.serves(context):
                raise ContextNotAllowedError(context)
        for item in value.values():
            _check_contexts(item, loader)
    elif isinstance(value, list):
        for item in value:
            _check_contexts(item, loader)


def _refused_context(error: BaseException | None) -> ContextNotAllowedError | None:
    """The refusal of a context URL, wherever pyld wrapped it."""
    while error is not None:
        if isinstance(error, ContextNotAllowedError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _undefined_iris(expanded: Any) -> Iterator[str]:
    """Walk expanded JSON-LD for IRIs that did not come from a term definition."""
    if isinstance(expanded, list):
        for item in expanded:
            yield from _undefined_iris(item)
        return
    if not isinstance(expanded, dict):
        return
    if "@value" in expanded:
        datatype = expanded.get("@type")
        if datatype is not None and datatype != "@json" and not _is_defined_iri(datatype):
            yield datatype
        return
    for key, value in expanded.items():
        if key == "@id":
            if not _is_absolute_iri(value):
                yield value
        elif key == "@type":
            yield from (t for t in value if not _is_defined_iri(t))
        elif key == "@reverse":
            for reverse_property, reverse_value in value.items():
                if not _is_defined_iri(reverse_property):
                    yield reverse_property
                yield from _undefined_iris(reverse_value)
        elif key in ("@graph", "@list", "@set", "@included"):
            yield from _undefined_iris(value)
        elif not key.startswith("@"):
            if not _is_defined_iri(key):
                yield key
            yield from _undefined_iris(value)


def _is_absolute_iri(iri: str) -> bool:
    """Absolute IRI or blank node identifier (both survive conversion to RDF)."""
    return bool(_ABSOLUTE_IRI.match(iri))


def _is_defined_iri(iri: str) -> bool:
    """A property or class IRI: absolute, not a blank node, not an undefined term."""
    return (
        _is_absolute_iri(iri)
        and not iri.startswith("_:")
        and not iri.startswith(UNDEFINED_TERMS_VOCABULARY)
    )


def _rdfc_1_0(expanded: list) -> str:
    """RDFC-1.0 canonical N-Quads of expanded JSON-LD (already free of contexts)."""
    try:
        quads = pyoxigraph.parse(
            json.dumps(_rdf_literals(expanded)).encode(), pyoxigraph.RdfFormat.JSON_LD
        )
        dataset = pyoxigraph.Dataset(quads)
    except (SyntaxError, ValueError) as error:
        raise DataIntegrityError(f"cannot convert the document to RDF: {error}") from error
    dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
    return "".join(sorted(f"{quad} .\n" for quad in dataset))


def _rdf_literals(expanded: Any) -> Any:
    """Expanded JSON-LD with native values written as the RDF literals JSON-LD 1.1 defines.

    The JSON-LD "object to RDF conversion" turns booleans and numbers into
    typed literals and, with rdfDirection unset, ignores @direction. Doing it
    here keeps the literals exactly as pyld and jsonld.js write them, whatever
    a JSON-LD parser would choose.
    """
    if isinstance(expanded, list):
        return [_rdf_literals(item) for item in expanded]
    if not isinstance(expanded, dict):
        return expanded
    if "@value" not in expanded:
        return {key: _rdf_literals(value) for key, value in expanded.items()}
    if expanded.get("@type") == "@json":
        return expanded
    literal = {key: value for key, value in expanded.items() if key not in ("@direction", "@index")}
    value, datatype = expanded["@value"], expanded.get("@type")
    if isinstance(value, bool):
        literal["@value"] = "true" if value else "false"
        literal["@type"] = datatype or XSD_BOOLEAN
    elif isinstance(value, int | float):
        literal["@value"], literal["@type"] = _number_literal(value, datatype)
    return literal


def _number_literal(value: float, datatype: str | None) -> tuple[str, str]:
    # JSON numbers are IEEE doubles (as JavaScript reads them): 1.0 is the integer 1.
    number = float(value)
    if not math.isfinite(number):
        raise DataIntegrityError(f"{value!r} is not a JSON number")
    if not number.is_integer() or abs(number) >= 1e21 or datatype == XSD_DOUBLE:
        return _canonical_double(number), datatype or XSD_DOUBLE
    return str(int(number)), datatype or XSD_INTEGER


def _canonical_double(number: float) -> str:
    """xsd:double canonical form as JSON-LD writes it: 1.5E0, 1.0E21, 3.0E-1."""
    mantissa, exponent = f"{number:.15E}".split("E")
    mantissa = mantissa.rstrip("0")
    if mantissa.endswith("."):
        mantissa += "0"
    return f"{mantissa}E{int(exponent)}"


def format_datetime(moment: datetime) -> str:
    """xsd:dateTimeStamp in UTC with second precision, e.g. 2025-01-01T00:00:00Z."""
    if moment.tzinfo is None:
        raise ValueError("a proof time must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash_data(
    unsecured_document: Mapping[str, Any],
    proof_config: Mapping[str, Any],
    loader: StaticDocumentLoader,
) -> tuple[bytes, list[str]]:
    """hashData of eddsa-rdfc-2022 plus the undefined terms of document and proof."""
    document = canonicalize_checked(unsecured_document, loader)
    config = canonicalize_checked(proof_config, loader)
    hash_data = (
        hashlib.sha256(config.nquads.encode()).digest()
        + hashlib.sha256(document.nquads.encode()).digest()
    )
    return hash_data, list(dict.fromkeys(document.undefined_terms + config.undefined_terms))


def sign(
    document: Mapping[str, Any],
    secret_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    proof_purpose: str = ASSERTION_METHOD,
    loader: StaticDocumentLoader | None = None,
) -> dict[str, Any]:
    """A copy of ``document`` secured with an eddsa-rdfc-2022 DataIntegrityProof.

    Refuses a document with terms its contexts do not define: a signature
    would not cover them, yet a reader would see them.
    """
    if "proof" in document:
        raise DataIntegrityError("the document already has a proof; proof sets are not supported")
    if "@context" not in document:
        raise DataIntegrityError("the document has no @context")
    loader = loader or shipped_document_loader()
    proof = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_datetime(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    proof_config = {**proof, "@context": document["@context"]}
    hash_data, undefined_terms = _hash_data(document, proof_config, loader)
    if undefined_terms:
        raise UnsafeDocumentError(undefined_terms)
    proof["proofValue"] = multibase_encode(secret_key.sign(hash_data))
    return {**copy.deepcopy(dict(document)), "proof": proof}


@dataclass(frozen=True)
class Check:
    passed: bool
    reason: str = ""


NOT_CHECKED = Check(False, "not checked: an earlier check failed")


@dataclass(frozen=True)
class VerificationResult:
    """Each check reported on its own, so a verifier can say exactly what failed."""

    proof_well_formed: Check
    cryptosuite_supported: Check = NOT_CHECKED
    key_resolved: Check = NOT_CHECKED
    signature_valid: Check = NOT_CHECKED
    safe_mode: Check = NOT_CHECKED
    verification_method: str | None = None
    undefined_terms: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(
            check.passed
            for check in (
                self.proof_well_formed,
                self.cryptosuite_supported,
                self.key_resolved,
                self.signature_valid,
                self.safe_mode,
            )
        )


PublicKeyResolver = Callable[[str], Ed25519PublicKey | None]


def verify(
    document: Mapping[str, Any],
    resolve_public_key: PublicKeyResolver,
    expected_proof_purpose: str = ASSERTION_METHOD,
    loader: StaticDocumentLoader | None = None,
) -> VerificationResult:
    """Verify a document's eddsa-rdfc-2022 DataIntegrityProof.

    ``resolve_public_key`` receives the proof's verificationMethod and returns
    the key, or None when the issuer does not (or no longer) publish it for
    that purpose.
    """
    loader = loader or shipped_document_loader()
    proof, problem = _single_proof(document)
    if proof is None:
        return VerificationResult(Check(False, problem))
    problem = _proof_problem(proof, document, expected_proof_purpose)
    if problem:
        return VerificationResult(Check(False, problem))
    well_formed = Check(True)
    if proof["cryptosuite"] != CRYPTOSUITE:
        return VerificationResult(
            well_formed, Check(False, f"unsupported cryptosuite {proof['cryptosuite']!r}")
        )
    supported = Check(True)
    method = proof["verificationMethod"]
    public_key = resolve_public_key(method)
    if public_key is None:
        return VerificationResult(
            well_formed,
            supported,
            Check(False, f"no public key is published for {method!r}"),
            verification_method=method,
        )
    resolved = Check(True)

    unsecured = {key: value for key, value in document.items() if key != "proof"}
    proof_config = {key: value for key, value in proof.items() if key != "proofValue"}
    proof_config["@context"] = proof.get("@context", document["@context"])
    try:
        hash_data, undefined_terms = _hash_data(unsecured, proof_config, loader)
    except DataIntegrityError as error:
        failure = Check(False, str(error))
        return VerificationResult(
            well_formed, supported, resolved, failure, failure, verification_method=method
        )
    signature = multibase_decode(proof["proofValue"])
    try:
        public_key.verify(signature, hash_data)
        signature_check = Check(True)
    except InvalidSignature:
        signature_check = Check(False, "the signature does not match the document and key")
    safe_mode = (
        Check(False, "terms not defined by the contexts: " + ", ".join(undefined_terms))
        if undefined_terms
        else Check(True)
    )
    return VerificationResult(
        well_formed,
        supported,
        resolved,
        signature_check,
        safe_mode,
        verification_method=method,
        undefined_terms=undefined_terms,
    )


def _single_proof(document: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    proof = document.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            return None, "proof sets and chains are not supported; expected one proof"
        proof = proof[0]
    if proof is None:
        return None, "the document has no proof"
    if not isinstance(proof, dict):
        return None, "the proof is not an object"
    return proof, ""


def _proof_problem(
    proof: Mapping[str, Any], document: Mapping[str, Any], expected_purpose: str
) -> str:
    """Why a proof is malformed for Data Integrity, or '' when it is well formed."""
    if proof.get("type") != PROOF_TYPE:
        return f"proof type must be {PROOF_TYPE!r}"
    for name in ("cryptosuite", "verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(name), str) or not proof[name]:
            return f"proof.{name} is missing or not a string"
    if proof["proofPurpose"] != expected_purpose:
        return f"proof purpose is {proof['proofPurpose']!r}, expected {expected_purpose!r}"
    for name in ("created", "expires"):
        if name in proof and not (
            isinstance(proof[name], str) and _DATE_TIME_STAMP.match(proof[name])
        ):
            return f"proof.{name} is not an XML Schema dateTimeStamp"
    if "@context" not in document:
        return "the document has no @context"
    if "@context" in proof and not _starts_with(document["@context"], proof["@context"]):
        return "proof @context does not match the start of the document's @context"
    try:
        signature = multibase_decode(proof["proofValue"])
    except MultikeyError as error:
        return f"proof.proofValue: {error}"
    if len(signature) != ED25519_SIGNATURE_LENGTH:
        return f"proof.proofValue is {len(signature)} bytes, an Ed25519 signature is 64"
    return ""


def _starts_with(document_context: Any, proof_context: Any) -> bool:
    document_contexts, proof_contexts = _as_list(document_context), _as_list(proof_context)
    return document_contexts[: len(proof_contexts)] == proof_contexts


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]
