"""Frameworks, micro-credentials and stacks as documents: the same schemas check
the seeded catalog files, the API bodies and the authoring editor."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.db_types import MAX_ROW_ID
from credentials.models import EVIDENCE_KINDS, EVIDENCE_SECTIONS, GRADE_BANDS, Theme
from rubrics.schemas import KEY, RubricDocumentSchema, StrictSchema

CODE = validate.Regexp(
    r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$", error="Use capitals, digits and hyphens, like UDL-07."
)


class LinkSchema(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    url = fields.Url(required=True, schemes={"http", "https"})


class ResearchSchema(StrictSchema):
    citation = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    url = fields.Url(load_default=None, schemes={"http", "https"})


class EvidencePartSchema(StrictSchema):
    key = fields.String(required=True, validate=KEY)
    section = fields.String(required=True, validate=validate.OneOf(EVIDENCE_SECTIONS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    prompt = fields.String(required=True, validate=validate.Length(min=1))
    accepted = fields.List(
        fields.String(validate=validate.OneOf(EVIDENCE_KINDS)),
        required=True,
        validate=validate.Length(min=1),
    )
    min_words = fields.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    max_words = fields.Integer(load_default=None, validate=validate.Range(min=1, max=100_000))
    min_count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=20))
    required = fields.Boolean(load_default=True)
    privacy_guidance = fields.String(required=True, validate=validate.Length(min=1))

    @validates_schema
    def _word_limits(self, data: dict[str, Any], **_kwargs: Any) -> None:
        low, high = data.get("min_words"), data.get("max_words")
        if low is not None and high is not None and low > high:
            raise ValidationError("The minimum is above the maximum.", "min_words")
        if (low or high) and "text" not in data["accepted"]:
            raise ValidationError("Word limits apply only to parts that accept text.", "max_words")


class MicroCredentialDocumentSchema(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    theme = fields.String(required=True, validate=validate.OneOf([t.value for t in Theme]))
    version = fields.String(load_default="1.0.0", metadata={"description": "Version label"})
    summary = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    competency = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    alignments = fields.List(fields.String(), load_default=list)
    grade_bands = fields.List(
        fields.String(validate=validate.OneOf(GRADE_BANDS)), validate=validate.Length(min=1)
    )
    key_method = fields.String(required=True, validate=validate.Length(min=1, max=300))
    key_method_description = fields.String(load_default=None)
    method_components = fields.List(
        fields.String(validate=validate.Length(min=1)),
        required=True,
        validate=validate.Length(min=1),
    )
    research = fields.List(
        fields.Nested(ResearchSchema), required=True, validate=validate.Length(min=1)
    )
    resources = fields.List(fields.Nested(LinkSchema), load_default=list)
    pd_hours = fields.Float(required=True, validate=validate.Range(min=0.5, max=200))
    validity_months = fields.Integer(load_default=None, validate=validate.Range(min=1, max=240))
    max_attempts = fields.Integer(load_default=3, validate=validate.Range(min=1, max=10))
    prerequisites = fields.List(fields.String(validate=CODE), load_default=list)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list)
    evidence_parts = fields.List(
        fields.Nested(EvidencePartSchema), required=True, validate=validate.Length(min=1)
    )
    rubric = fields.Nested(RubricDocumentSchema, required=True)

    @validates_schema
    def _parts_and_criteria(self, data: dict[str, Any], **_kwargs: Any) -> None:
        keys = [part["key"] for part in data["evidence_parts"]]
        if len(set(keys)) != len(keys):
            raise ValidationError("Evidence part keys must be different.", "evidence_parts")
        judged = {key for c in data["rubric"]["criteria"] for key in c["evidence_parts"]}
        unknown = sorted(judged - set(keys))
        if unknown:
            raise ValidationError(
                "Criteria judge evidence parts that do not exist: " + ", ".join(unknown) + ".",
                "rubric",
            )
        unjudged = [
            part["key"]
            for part in data["evidence_parts"]
            if part["section"] != "overview" and part["key"] not in judged
        ]
        if unjudged:
            raise ValidationError(
                "Every artifact and reflection must be judged by a criterion; not judged: "
                + ", ".join(unjudged)
                + ".",
                "evidence_parts",
            )
        if data["code"] in data["prerequisites"]:
            raise ValidationError("A micro-credential cannot require itself.", "prerequisites")


class FrameworkItemDocumentSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=80))
    type = fields.String(required=True, validate=validate.Length(min=1, max=60))
    statement = fields.String(required=True, validate=validate.Length(min=1))
    abbreviated = fields.String(load_default=None)
    parent = fields.String(load_default=None, allow_none=True)
    education_level = fields.List(fields.String(), load_default=list)


class AssociationDocumentSchema(StrictSchema):
    type = fields.String(
        required=True,
        validate=validate.OneOf(
            [
                "isRelatedTo",
                "precedes",
                "exactMatchOf",
                "isPartOf",
                "replacedBy",
                "exemplar",
                "hasSkillLevel",
                "isPeerOf",
            ]
        ),
    )
    origin = fields.String(required=True)
    destination = fields.String(required=True)


class FrameworkDocumentSchema(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,40}$"))
    title = fields.String(required=True)
    creator = fields.String(required=True)
    publisher = fields.String(load_default=None)
    version = fields.String(load_default=None)
    language = fields.String(load_default="en")
    license_uri = fields.Url(load_default=None)
    official_source_url = fields.Url(load_default=None)
    description = fields.String(load_default=None)
    items = fields.List(fields.Nested(FrameworkItemDocumentSchema), required=True)
    associations = fields.List(fields.Nested(AssociationDocumentSchema), load_default=list)

    @validates_schema
    def _tree(self, data: dict[str, Any], **_kwargs: Any) -> None:
        codes = [item["code"] for item in data["items"]]
        if len(set(codes)) != len(codes):
            raise ValidationError("Item codes must be different.", "items")
        orphans = [i["code"] for i in data["items"] if i["parent"] and i["parent"] not in codes]
        if orphans:
            raise ValidationError("Parents not found for: " + ", ".join(orphans), "items")


class StackDocumentSchema(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    title = fields.String(required=True)
    theme = fields.String(required=True, validate=validate.OneOf([t.value for t in Theme]))
    summary = fields.String(required=True)
    competency = fields.String(required=True)
    required = fields.List(fields.String(validate=CODE), load_default=list)
    choose = fields.Dict(load_default=dict)
    pd_hours_rule = fields.String(
        load_default="sum_of_members", validate=validate.OneOf(["sum_of_members"])
    )


# --- Output -------------------------------------------------------------------


class AlignmentOutSchema(Schema):
    code = fields.String()
    statement = fields.String()
    framework = fields.Function(lambda item: item.framework.code)


class EvidencePartOutSchema(Schema):
    key = fields.String()
    section = fields.String()
    title = fields.String()
    prompt = fields.String()
    accepted = fields.List(fields.String())
    min_words = fields.Integer(allow_none=True)
    max_words = fields.Integer(allow_none=True)
    min_count = fields.Integer()
    required = fields.Boolean()
    privacy_guidance = fields.String()


class MicroCredentialSummarySchema(Schema):
    code = fields.String()
    version = fields.Integer()
    version_label = fields.String()
    status = fields.String()
    title = fields.String()
    theme = fields.String()
    summary = fields.String()
    pd_hours = fields.Float()
    grade_bands = fields.List(fields.String())
    tags = fields.List(fields.String())


class MicroCredentialSchema(MicroCredentialSummarySchema):
    competency = fields.String()
    key_method = fields.String()
    key_method_description = fields.String(allow_none=True)
    method_components = fields.List(fields.String())
    research = fields.List(fields.Dict())
    resources = fields.List(fields.Dict())
    validity_months = fields.Integer(allow_none=True)
    max_attempts = fields.Integer()
    prerequisites = fields.List(fields.String())
    alignments = fields.List(fields.Nested(AlignmentOutSchema))
    evidence_parts = fields.List(fields.Nested(EvidencePartOutSchema))
    rubric = fields.Method("_rubric")
    published_at = fields.DateTime(allow_none=True)

    def _rubric(self, credential: Any) -> dict[str, Any]:
        from rubrics.schemas import RubricVersionSchema

        return RubricVersionSchema().dump(credential.rubric_version)


class StackSchema(Schema):
    code = fields.String()
    title = fields.String()
    theme = fields.String()
    summary = fields.String()
    competency = fields.String()
    required = fields.List(fields.String())
    choose_count = fields.Integer()
    choose_from = fields.List(fields.String())
    pd_hours_rule = fields.String()


class CatalogQuerySchema(Schema):
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    theme = fields.String(load_default=None, validate=validate.OneOf([t.value for t in Theme]))
    competency = fields.String(load_default=None, validate=validate.Length(max=80))
    grade_band = fields.String(load_default=None, validate=validate.OneOf(GRADE_BANDS))
    min_hours = fields.Float(load_default=None, validate=validate.Range(min=0, max=1000))
    max_hours = fields.Float(load_default=None, validate=validate.Range(min=0, max=1000))


class VersionQuerySchema(Schema):
    version = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
