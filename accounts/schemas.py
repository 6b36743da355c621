"""Validation in, serialization out, shared by the pages and the API."""

from __future__ import annotations

import unicodedata
from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from accounts.models import Role
from core.i18n import N_, _l

US_STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "DC",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "PR",
    "GU",
    "VI",
    "AS",
    "MP",
]
PASSWORD_MIN = 10
PASSWORD_MAX = 256


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def validate_person_name(value: str) -> None:
    """A name of 1 to 200 characters with no control characters (tabs, escapes, bells)."""
    validate.Length(min=1, max=200)(value)
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValidationError(N_("Names cannot contain control characters."))


class FormSchema(Schema):
    """Base for input: strips surrounding spaces, ignores unknown fields (such as
    the CSRF token of a form), treats empty strings as missing."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _clean(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if _holds_nul(value):
                # PostgreSQL cannot store it, and no person types it.
                raise ValidationError(N_("Remove the NUL character (\\0) from this text."), key)
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            cleaned[key] = value
        return cleaned


class EmailField(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            checked = validate_email(raw, check_deliverability=False)
        except EmailNotValidError as exc:
            # The validator's detail is English only; the sentence a person acts on is translated.
            raise ValidationError(N_("Enter a valid email address, like name@school.org.")) from exc
        return checked.normalized.lower()


def validate_password(value: str) -> None:
    if len(value) < PASSWORD_MIN:
        raise ValidationError([_l("Use at least %(n)d characters.", n=PASSWORD_MIN)])
    if len(value) > PASSWORD_MAX:
        raise ValidationError([_l("Use at most %(n)d characters.", n=PASSWORD_MAX)])
    if len(set(value)) < 4:
        raise ValidationError(N_("Use a less repetitive password."))


class SignInSchema(FormSchema):
    email = EmailField(required=True, metadata={"description": "Account email"})
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=PASSWORD_MAX)
    )
    remember = fields.Boolean(load_default=False)
    next = fields.String(load_default=None)


class LicenseMixin(FormSchema):
    license_number = fields.String(
        load_default=None,
        validate=validate.Regexp(
            r"^[A-Za-z0-9-]{3,40}$", error=N_("Use 3 to 40 letters, digits or hyphens.")
        ),
        metadata={"description": "Educator license number, if you have one"},
    )
    license_state = fields.String(
        load_default=None,
        validate=validate.OneOf(US_STATES, error=N_("Choose a US state or territory code.")),
        metadata={"description": "Two-letter code of the state that issued the license"},
    )

    @pre_load
    def _upper_state(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("license_state"), str):
            data = {**data, "license_state": data["license_state"].strip().upper()}
        return data

    @validates_schema
    def _license_pair(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("license_number") and not data.get("license_state"):
            raise ValidationError(
                N_("Choose the state that issued your license."), field_name="license_state"
            )


class SignUpSchema(LicenseMixin):
    name = fields.String(required=True, validate=validate_person_name)
    email = EmailField(required=True)
    password = fields.String(required=True, load_only=True, validate=validate_password)
    password_confirm = fields.String(required=True, load_only=True)

    @validates_schema
    def _passwords_match(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("password") != data.get("password_confirm"):
            raise ValidationError(N_("The two passwords differ."), field_name="password_confirm")

    @post_load
    def _drop_confirm(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data.pop("password_confirm", None)
        return data


class ProfileSchema(LicenseMixin):
    name = fields.String(required=True, validate=validate_person_name)
    locale = fields.String(load_default=None, validate=validate.OneOf(["en", "es"]))


class PasswordResetRequestSchema(FormSchema):
    email = EmailField(required=True)


class PasswordResetSchema(FormSchema):
    password = fields.String(required=True, load_only=True, validate=validate_password)
    password_confirm = fields.String(required=True, load_only=True)

    @validates_schema
    def _passwords_match(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("password") != data.get("password_confirm"):
            raise ValidationError(N_("The two passwords differ."), field_name="password_confirm")


class ApiTokenCreateSchema(FormSchema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "What the token is for, e.g. 'district SIS sync'"},
    )


class ApiTokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "First characters, to recognise it"})
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewApiTokenSchema(ApiTokenSchema):
    token = fields.String(metadata={"description": "The secret; shown only this once"})


class OrganizationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    us_state = fields.String(allow_none=True)


class UserSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    status = fields.String()
    roles = fields.Method("_roles")
    license_number = fields.String(allow_none=True)
    license_state = fields.String(allow_none=True)
    organization = fields.Nested(OrganizationSchema, allow_none=True)
    is_demo = fields.Boolean()
    created_at = fields.DateTime()

    def _roles(self, user: Any) -> list[str]:
        return sorted(str(role) for role in user.roles)


class RolesUpdateSchema(FormSchema):
    roles = fields.List(
        fields.String(validate=validate.OneOf([str(role) for role in Role])),
        required=True,
        metadata={"description": "The complete set of roles the user should hold"},
    )

    @validates("roles")
    def _not_empty(self, value: list[str], **_kwargs: Any) -> None:
        if not value:
            raise ValidationError("Give at least one role; disable the account instead.")
