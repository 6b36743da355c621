"""Validation in, serialization out, for badges and verification."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from accounts.schemas import FormSchema


class BadgeSchema(Schema):
    id = fields.String()
    title = fields.String()
    competency_code = fields.String()
    hours = fields.Float()
    issued_at = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    public = fields.Boolean()
    revoked_at = fields.DateTime(allow_none=True)
    url = fields.Function(lambda b: f"/badges/{b.id}")


class VisibilitySchema(FormSchema):
    public = fields.Boolean(required=True)


class RevokeSchema(FormSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class CheckSchema(Schema):
    name = fields.String()
    passed = fields.Boolean()
    reason = fields.String()
    code = fields.String(allow_none=True)


class VerificationSchema(Schema):
    valid = fields.Boolean()
    verdict = fields.String()
    checks = fields.List(fields.Nested(CheckSchema))
    facts = fields.Dict()


class LookupSchema(FormSchema):
    badge = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "A badge id or its verification URL"},
    )
