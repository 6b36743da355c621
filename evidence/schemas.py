"""Validation in, serialization out, for submissions and evidence."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from accounts.schemas import FormSchema
from core.i18n import N_


class StartSubmissionSchema(FormSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class LockSchema(FormSchema):
    lock_version = fields.Integer(
        required=True,
        metadata={"description": "The submission's lock_version you last saw (409 if stale)"},
    )


class TextItemSchema(LockSchema):
    part_key = fields.String(required=True, validate=validate.Length(min=1, max=20))
    text = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100_000),
        metadata={"description": "Plain text or simple HTML (sanitized)"},
    )
    title = fields.String(load_default=None, validate=validate.Length(max=200))


def _public_host(host: str) -> bool:
    """False for loopback, private, link-local and reserved addresses and local names."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a DNS name; it is never fetched by the service


class LinkItemSchema(LockSchema):
    part_key = fields.String(required=True, validate=validate.Length(min=1, max=20))
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=True)
    title = fields.String(load_default=None, validate=validate.Length(max=200))
    transcript = fields.String(load_default=None, validate=validate.Length(max=100_000))

    @validates("url")
    def _no_credentials(self, value: str, **_kwargs: Any) -> None:
        if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
            raise ValidationError(N_("Links must not contain a user name or password."))
        if len(value) > 2000:
            raise ValidationError(N_("Links can be at most 2000 characters."))
        if not _public_host(urlsplit(value).hostname or ""):
            raise ValidationError(
                N_("Link to a public web page: reviewers cannot open internal addresses.")
            )


class AccessibilitySchema(LockSchema):
    alt_text = fields.String(load_default=None, validate=validate.Length(max=2000))
    transcript = fields.String(load_default=None, validate=validate.Length(max=100_000))


class FileMetaSchema(FormSchema):
    alt_text = fields.String(load_default=None, validate=validate.Length(max=2000))
    transcript = fields.String(load_default=None, validate=validate.Length(max=100_000))
    lock_version = fields.Integer(load_default=None)


class UploadStartSchema(FileMetaSchema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    length = fields.Integer(required=True, validate=validate.Range(min=1))


class SubmitSchema(LockSchema):
    privacy_attested = fields.Boolean(
        required=True,
        metadata={"description": "Student identifying information removed or consented"},
    )


class StoredFileSchema(Schema):
    size = fields.Integer()
    sha256 = fields.String()
    media_type = fields.String()
    kind = fields.String()
    original_name = fields.String()


class EvidenceItemSchema(Schema):
    id = fields.Integer()
    part_key = fields.String()
    kind = fields.String()
    title = fields.String(allow_none=True)
    text_html = fields.String(allow_none=True)
    word_count = fields.Integer(allow_none=True)
    url = fields.String(allow_none=True)
    alt_text = fields.String(allow_none=True)
    transcript = fields.String(allow_none=True)
    file = fields.Nested(StoredFileSchema, allow_none=True)
    created_at = fields.DateTime()


class ProblemSchema(Schema):
    part = fields.String(allow_none=True)
    message = fields.String()


class SubmissionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Integer()
    credential_code = fields.String()
    credential_version = fields.Function(lambda s: s.credential.version)
    credential_title = fields.Function(lambda s: s.credential.title)
    attempt = fields.Integer()
    max_attempts = fields.Function(lambda s: s.credential.max_attempts)
    status = fields.String()
    lock_version = fields.Integer()
    privacy_attested_at = fields.DateTime(allow_none=True)
    precheck_problems = fields.List(fields.Nested(ProblemSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    items = fields.List(fields.Nested(EvidenceItemSchema))


class UploadSchema(Schema):
    id = fields.String()
    filename = fields.String()
    length = fields.Integer()
    offset = fields.Integer()
    upload_url = fields.Function(lambda u: f"/api/v1/uploads/{u.id}")
