"""The shape of a CASE 1.1 package, checked by marshmallow before anything else."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from rubrics.schemas import KEY, PassingRuleSchema, StrictSchema

ASSOCIATION_TYPES = (
    "isChildOf", "isPeerOf", "isPartOf", "exactMatchOf", "precedes", "isRelatedTo",
    "replacedBy", "exemplar", "hasSkillLevel", "isTranslationOf",
)  # fmt: skip
UUID_FORMAT = validate.Regexp(
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
    error="Not a UUID (8-4-4-4-12 hexadecimal digits).",
)
URI_FORMAT = validate.Regexp(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", error="Not an absolute URI.")


def _identifier(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=UUID_FORMAT)


def _uri(required: bool = True) -> fields.String:
    return fields.String(required=required, validate=[URI_FORMAT, validate.Length(max=500)])


def _text(max_length: int | None = None, *, required: bool = False) -> fields.String:
    minimum = 1 if required else 0
    return fields.String(required=required, validate=validate.Length(min=minimum, max=max_length))


def _association_type(value: str) -> None:
    if value not in ASSOCIATION_TYPES and not re.fullmatch(r"ext:[A-Za-z0-9.\-_]{1,36}", value):
        raise ValidationError(
            "Use a CASE association type (" + ", ".join(ASSOCIATION_TYPES) + ") or ext:<name>."
        )


class JsonNumber(fields.Float):
    """A JSON number: the text "3" is not a score."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class LinkURISchema(StrictSchema):
    title = fields.String(required=True)
    identifier = _identifier()
    uri = _uri()


class NodeLinkSchema(LinkURISchema):
    """LinkGenURI: the node may live outside CASE, so any identifier will do."""

    identifier = fields.String(required=True, validate=validate.Length(min=1))
    targetType = fields.String(validate=validate.Regexp(r"^(CASE|ext:[A-Za-z0-9.\-_]+)$"))


class CaseObjectSchema(StrictSchema):
    """What every CASE object has. Unknown fields are refused: CASE 1.1 puts
    anything extra under ``extensions``."""

    identifier = _identifier()
    uri = _uri()
    lastChangeDateTime = fields.AwareDateTime(required=True, default_timezone=UTC)
    extensions = fields.Dict(keys=fields.String())


class DocumentSchema(CaseObjectSchema):
    frameworkType = fields.String()
    caseVersion = fields.String(validate=validate.Equal("1.1"))
    creator = _text(300, required=True)
    title = _text(300, required=True)
    officialSourceURL = _uri(required=False)
    publisher = _text(300)
    description = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = _text(10)
    version = _text(40)
    adoptionStatus = _text(40)
    statusStartDate = fields.Date()
    statusEndDate = fields.Date()
    licenseURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    CFPackageURI = fields.Nested(LinkURISchema)  # sent by CASE tools on a package's document too


class ItemSchema(CaseObjectSchema):
    fullStatement = _text(required=True)
    alternativeLabel = fields.String()
    CFItemType = _text(60)
    humanCodingScheme = _text(80)
    listEnumeration = fields.String()
    abbreviatedStatement = _text(300)
    conceptKeywords = fields.List(fields.String())
    conceptKeywordsURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    subject = fields.List(fields.String())
    subjectURI = fields.List(fields.Nested(LinkURISchema))
    language = _text(10)
    educationLevel = fields.List(fields.String())
    CFItemTypeURI = fields.Nested(LinkURISchema)
    licenseURI = fields.Nested(LinkURISchema)
    statusStartDate = fields.Date()
    statusEndDate = fields.Date()
    # Not in the 1.1 package schema, but most CASE tools (and our export) send it.
    CFDocumentURI = fields.Nested(LinkURISchema)


class AssociationSchema(CaseObjectSchema):
    associationType = fields.String(required=True, validate=_association_type)
    sequenceNumber = fields.Integer(strict=True)
    originNodeURI = fields.Nested(NodeLinkSchema, required=True)
    destinationNodeURI = fields.Nested(NodeLinkSchema, required=True)
    CFAssociationGroupingURI = fields.Nested(LinkURISchema)
    notes = fields.String()
    CFDocumentURI = fields.Nested(LinkURISchema)  # as for items


class DefinitionSchema(CaseObjectSchema):
    title = fields.String(required=True)
    description = fields.String()


class ConceptSchema(DefinitionSchema):
    keywords = fields.String()
    hierarchyCode = fields.String(required=True)


class SubjectSchema(DefinitionSchema):
    hierarchyCode = fields.String(required=True)


class LicenseSchema(DefinitionSchema):
    licenseText = fields.String(required=True)


class ItemTypeSchema(DefinitionSchema):
    description = fields.String(required=True)
    hierarchyCode = fields.String(required=True)
    typeCode = fields.String()


class DefinitionsSchema(StrictSchema):
    """Accepted and checked, not kept: we store item types and licenses as text."""

    CFConcepts = fields.List(fields.Nested(ConceptSchema))
    CFSubjects = fields.List(fields.Nested(SubjectSchema))
    CFLicenses = fields.List(fields.Nested(LicenseSchema))
    CFItemTypes = fields.List(fields.Nested(ItemTypeSchema))
    CFAssociationGroupings = fields.List(fields.Nested(DefinitionSchema))
    extensions = fields.Dict(keys=fields.String())


class LevelSchema(CaseObjectSchema):
    # Optional in CASE, needed by our rubrics: a level is named, scored and described.
    quality = _text(60, required=True)
    score = JsonNumber(required=True, allow_nan=False)
    description = _text(required=True)
    position = fields.Integer(required=True, strict=True)
    feedback = fields.String()
    rubricCriterionId = _identifier(required=False)
    extensions = fields.List(fields.Dict(keys=fields.String()))  # a list here, per the 1.1 schema


class CriterionExtensionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    criterionKey = fields.String(validate=KEY)
    evidenceParts = fields.List(fields.String(validate=KEY))


class CriterionSchema(CaseObjectSchema):
    category = _text(200, required=True)
    description = fields.String()
    CFItemURI = fields.Nested(LinkURISchema)
    weight = JsonNumber(allow_nan=False)
    position = fields.Integer(strict=True)
    rubricId = _identifier(required=False)
    CFRubricCriterionLevels = fields.List(fields.Nested(LevelSchema), load_default=list)
    extensions = fields.Nested(CriterionExtensionsSchema)


class RubricExtensionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    passingRule = fields.Nested(PassingRuleSchema)


class RubricSchema(CaseObjectSchema):
    title = _text(200, required=True)
    description = fields.String()
    CFRubricCriteria = fields.List(fields.Nested(CriterionSchema), load_default=list)
    extensions = fields.Nested(RubricExtensionsSchema)


class PackageSchema(StrictSchema):
    CFDocument = fields.Nested(DocumentSchema, required=True)
    CFItems = fields.List(fields.Nested(ItemSchema), load_default=list)
    CFAssociations = fields.List(fields.Nested(AssociationSchema), load_default=list)
    CFDefinitions = fields.Nested(DefinitionsSchema)
    CFRubrics = fields.List(fields.Nested(RubricSchema), load_default=list)
    extensions = fields.Dict(keys=fields.String())
