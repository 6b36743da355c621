"""Validation in, serialization out, for the review workflow."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from accounts.schemas import FormSchema
from core.db_types import MAX_ROW_ID


class LevelEntrySchema(Schema):
    level = fields.String(load_default=None)
    feedback = fields.String(load_default="", validate=validate.Length(max=10_000))


class ScoresSchema(FormSchema):
    levels = fields.Dict(
        keys=fields.String(),
        values=fields.Nested(LevelEntrySchema),
        required=True,
        metadata={"description": "{criterion key: {level, feedback}}"},
    )


class ManualAssignSchema(FormSchema):
    reviewer_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    role = fields.String(
        load_default="primary", validate=validate.OneOf(["primary", "adjudicator", "appeal"])
    )


class AppealSchema(FormSchema):
    reason = fields.String(required=True, validate=validate.Length(min=20, max=5000))


class ExtraAttemptSchema(FormSchema):
    teacher_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
    teacher_email = fields.Email(load_default=None)
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    reason = fields.String(required=True, validate=validate.Length(min=5, max=2000))

    @validates_schema
    def _who(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data.get("teacher_id") and not data.get("teacher_email"):
            raise ValidationError("Name the teacher by account id or email.", "teacher_email")


class ProfileSchema(FormSchema):
    capacity = fields.Integer(load_default=None, validate=validate.Range(min=0, max=100))
    available = fields.Boolean(load_default=None)
    is_lead = fields.Boolean(load_default=None)


class ConflictSchema(FormSchema):
    organization_id = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID)
    )
    person_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
    note = fields.String(load_default=None, validate=validate.Length(max=300))


class PreferenceSchema(FormSchema):
    mode = fields.String(required=True, validate=validate.OneOf(["immediate", "digest"]))


class BlindItemSchema(Schema):
    id = fields.Integer()
    part_key = fields.String()
    kind = fields.String()
    text_html = fields.String(allow_none=True)
    word_count = fields.Integer(allow_none=True)
    url = fields.String(allow_none=True)
    alt_text = fields.String(allow_none=True)
    transcript = fields.String(allow_none=True)
    media_type = fields.Function(lambda i: i.file.media_type if i.file else None)
    size = fields.Function(lambda i: i.file.size if i.file else None)


class AssignmentSchema(Schema):
    """What a reviewer sees: a pseudonym, never the teacher."""

    id = fields.Integer()
    candidate = fields.Method("_candidate")
    credential_code = fields.Function(lambda a: a.submission.credential_code)
    credential_title = fields.Function(lambda a: a.submission.credential.title)
    role = fields.String(attribute="shown_role")
    status = fields.String()
    assigned_at = fields.DateTime()
    due_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    levels = fields.Dict()

    def _candidate(self, assignment: Any) -> str:
        from reviews.services import pseudonym

        return pseudonym(assignment.submission_id)


class AssignmentDetailSchema(AssignmentSchema):
    items = fields.Function(lambda a: BlindItemSchema(many=True).dump(a.submission.items))


class DecisionSchema(Schema):
    outcome = fields.String()
    method = fields.String()
    decided_at = fields.DateTime()
    criteria = fields.List(fields.Dict())


class QueueQuerySchema(Schema):
    """Which page of a reviewer's finished reviews, and how open reviews are sorted."""

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=100_000),
        metadata={
            "description": "Finished reviews come 20 a page, newest first; "
            "open reviews come on page 1."
        },
    )
    sort = fields.String(load_default="due", validate=validate.OneOf(["due", "assigned"]))


class DashboardSchema(Schema):
    by_status = fields.Dict(
        metadata={"description": "Submissions in flight (draft to in review) by state"}
    )
    decided_recently = fields.Dict(
        metadata={"description": "Decisions of the last recent_days days by outcome"}
    )
    recent_days = fields.Integer()
    overdue = fields.Function(lambda d: [a.id for a in d["overdue"]])
    awaiting = fields.Function(lambda d: [s.id for s in d["awaiting"]])
    turnaround_days = fields.Dict()
    reviewer_load = fields.Function(
        lambda d: [
            {
                "reviewer_id": r["user"].id,
                "open": r["open"],
                "capacity": r["capacity"],
                "available": r["available"],
            }
            for r in d["reviewer_load"]
        ]
    )
    open_appeals = fields.Function(lambda d: [a.id for a in d["open_appeals"]])
