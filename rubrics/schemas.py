"""A rubric as a document: the same shape in seed files, the API and the editor."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from core.db_types import MAX_ROW_ID
from rubrics.models import PassingRuleKind

KEY = validate.Regexp(r"^[A-Za-z0-9_.-]{1,20}$", error="Use 1-20 letters, digits, '.', '_' or '-'.")
# A rubric code is a URL path segment and fits rubrics.code (60 characters).
CODE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$",
    error="Use 1-60 letters, digits, '.', '_' or '-', starting with a letter or digit.",
)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class LevelSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=60))
    score = fields.Float(required=True, allow_nan=False)


class PassingRuleSchema(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in PassingRuleKind]))
    level = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=60),
        metadata={"description": "For all_at_least"},
    )
    threshold = fields.Float(
        load_default=None, allow_nan=False, metadata={"description": "For weighted_threshold"}
    )

    @validates_schema
    def _rule_fields(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["kind"] == PassingRuleKind.ALL_AT_LEAST and not data.get("level"):
            raise ValidationError("Name the level every criterion must reach.", "level")
        if data["kind"] == PassingRuleKind.WEIGHTED_THRESHOLD and data.get("threshold") is None:
            raise ValidationError("Give the weighted score needed to pass.", "threshold")


class CriterionSchema(StrictSchema):
    key = fields.String(required=True, validate=KEY)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None)
    weight = fields.Float(load_default=1.0, validate=validate.Range(min=0, min_inclusive=False))
    evidence_parts = fields.List(fields.String(validate=KEY), load_default=list)
    descriptors = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(min=1)),
        required=True,
        metadata={"description": "What each level looks like, by level name"},
    )


class RubricDocumentSchema(StrictSchema):
    """Levels are shared by the criteria; each criterion describes every level."""

    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default=None)
    levels = fields.List(fields.Nested(LevelSchema), required=True)
    passing_rule = fields.Nested(PassingRuleSchema, required=True)
    criteria = fields.List(fields.Nested(CriterionSchema), required=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        names = [level["name"] for level in data["levels"]]
        if len(set(names)) != len(names):
            raise ValidationError("Level names must be different.", "levels")
        keys = [criterion["key"] for criterion in data["criteria"]]
        if len(set(keys)) != len(keys):
            raise ValidationError("Criterion keys must be different.", "criteria")
        problems: dict[int, Any] = {}
        for index, criterion in enumerate(data["criteria"]):
            missing = [name for name in names if name not in criterion["descriptors"]]
            extra = [name for name in criterion["descriptors"] if name not in names]
            if missing or extra:
                message = []
                if missing:
                    message.append("describe level(s) " + ", ".join(missing))
                if extra:
                    message.append("unknown level(s) " + ", ".join(extra))
                text = "; ".join(message)
                # Not str.capitalize(): it would lower-case the level names.
                problems[index] = {"descriptors": [text[0].upper() + text[1:] + "."]}
        if problems:
            raise ValidationError({"criteria": problems})


class LevelOutSchema(Schema):
    name = fields.String()
    score = fields.Float()
    descriptor = fields.String()


class CriterionOutSchema(Schema):
    key = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    weight = fields.Float()
    evidence_parts = fields.List(fields.String())
    levels = fields.List(fields.Nested(LevelOutSchema))


class RubricVersionSchema(Schema):
    code = fields.Function(lambda v: v.rubric.code)
    number = fields.Integer()
    identifier = fields.String()
    status = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    passing_rule = fields.Method("_passing_rule")
    criteria = fields.List(fields.Nested(CriterionOutSchema))
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)

    def _passing_rule(self, version: Any) -> dict[str, Any]:
        rule: dict[str, Any] = {"kind": version.passing_rule_kind}
        if version.passing_rule_kind == PassingRuleKind.ALL_AT_LEAST:
            rule["level"] = version.passing_level
        else:
            rule["threshold"] = version.passing_threshold
        return rule


class RubricSummarySchema(Schema):
    code = fields.String()
    title = fields.String()
    versions = fields.Method("_versions")

    def _versions(self, rubric: Any) -> list[dict[str, Any]]:
        return [{"number": v.number, "status": v.status} for v in rubric.versions]


class DiffRowSchema(Schema):
    path = fields.String()
    change = fields.String(metadata={"description": "added, removed or changed"})
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class DiffQuerySchema(Schema):
    from_version = fields.Integer(
        required=True, data_key="from", validate=validate.Range(min=1, max=MAX_ROW_ID)
    )
    to_version = fields.Integer(
        required=True, data_key="to", validate=validate.Range(min=1, max=MAX_ROW_ID)
    )
