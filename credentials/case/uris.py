"""Our resolvable CASE URIs, and how a URI from a package is matched or stored."""

from __future__ import annotations

import re

from flask import current_app, has_request_context, request

from credentials.models import Framework, FrameworkItem

CASE_PATH = "/ims/case/v1p1"
_CASE_URI = re.compile(r"/ims/case/v1p1/CF\w+/([0-9A-Fa-f-]{36})$")


def public_base_url() -> str:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://localhost"


def case_uri(kind: str, identifier: str) -> str:
    """Our resolvable URI, e.g. ``case_uri("CFItems", identifier)``."""
    return f"{public_base_url()}{CASE_PATH}/{kind}/{identifier}"


def document_uri(framework: Framework) -> str:
    return framework.uri or case_uri("CFDocuments", framework.identifier)


def item_uri(item: FrameworkItem) -> str:
    return item.uri or case_uri("CFItems", item.identifier)


def foreign_uri(uri: str, kind: str, identifier: str) -> str | None:
    """The URI to store on import: none when it is the one we would give anyway."""
    return None if uri == case_uri(kind, identifier) else uri


def uri_key(uri: str) -> str:
    """CASE REST URIs end with the object's identifier: match those by it, so a
    URI recorded under another host name (or before a move) still matches."""
    match = _CASE_URI.search(uri)
    return match.group(1) if match else uri
