"""Publishing checks that a rubric can be scored and that its passing rule can
both be met and be failed; a published version is stamped and audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from core.audit import verify_chain
from core.errors import ConflictError, InvalidError
from core.extensions import db
from core.models import AuditEvent
from rubrics import services
from rubrics.models import CriterionLevel, VersionStatus
from rubrics.schemas import RubricDocumentSchema
from tests.rubrics import LEVELS, admin_client, rubric_document

CATALOG = Path(__file__).resolve().parents[2] / "credentials" / "catalog" / "microcredentials"


def _refused_publish(app: Flask, document: dict[str, Any]) -> list[str]:
    """Create a draft from ``document``, try to publish it, return the reasons
    given, and check that the refusal left the draft as it was."""
    with app.app_context():
        version = services.create_rubric("R-1", document)
        db.session.commit()
        with pytest.raises(InvalidError) as refused:
            services.publish(version)
        db.session.rollback()
        stored = services.get_version("R-1", 1)
        assert stored.status == VersionStatus.DRAFT
        assert stored.published_at is None
        assert (
            db.session.scalar(select(AuditEvent).where(AuditEvent.action == "rubric.published"))
            is None
        )
        return refused.value.errors["rubric"]


def _one_level_each(name: str) -> list[dict[str, Any]]:
    return [
        {**criterion, "descriptors": {name: criterion["descriptors"][name]}}
        for criterion in rubric_document()["criteria"]
    ]


def test_no_criteria_is_refused(app: Flask) -> None:
    assert _refused_publish(app, rubric_document(criteria=[])) == ["Add at least one criterion."]


def test_criterion_with_one_level_is_refused(app: Flask) -> None:
    document = rubric_document(
        levels=[LEVELS[2]],
        passing_rule={"kind": "all_at_least", "level": "Proficient"},
        criteria=_one_level_each("Proficient"),
    )
    assert _refused_publish(app, document) == [
        f"Criterion {key} needs at least two levels." for key in ("C1", "C2", "C3")
    ]


@pytest.mark.parametrize(
    "scores",
    [[0, 1, 1, 3], [0, 2, 1, 3], [3, 2, 1, 0]],
    ids=["equal", "dip", "falling"],
)
def test_scores_that_do_not_rise_strictly_are_refused(app: Flask, scores: list[int]) -> None:
    levels = [{**level, "score": score} for level, score in zip(LEVELS, scores, strict=True)]
    problems = _refused_publish(app, rubric_document(levels=levels))
    assert problems == [
        f"Criterion {key}: level scores must rise strictly from first to last."
        for key in ("C1", "C2", "C3")
    ]


def test_passing_level_that_is_no_level_is_refused(app: Flask) -> None:
    document = rubric_document(passing_rule={"kind": "all_at_least", "level": "Excellent"})
    assert _refused_publish(app, document) == [
        "The passing level 'Excellent' is not a level of C1, C2, C3."
    ]


def test_passing_level_missing_from_one_criterion_is_refused(app: Flask) -> None:
    # A document shares its levels; through the models one criterion can lack one.
    document = rubric_document(passing_rule={"kind": "all_at_least", "level": "Exemplary"})
    with app.app_context():
        version = services.create_rubric("R-1", document)
        second = version.criteria[1]
        second.levels = [level for level in second.levels if level.name != "Exemplary"]
        db.session.commit()
        with pytest.raises(InvalidError) as refused:
            services.publish(services.get_version("R-1", 1))
    assert refused.value.errors["rubric"] == ["The passing level 'Exemplary' is not a level of C2."]


def test_passing_level_lowest_everywhere_cannot_fail_and_is_refused(app: Flask) -> None:
    document = rubric_document(passing_rule={"kind": "all_at_least", "level": "Not Yet"})
    assert _refused_publish(app, document) == [
        "The passing rule cannot be failed: 'Not Yet' is the lowest level of every criterion."
    ]


def test_passing_level_lowest_in_only_some_criteria_can_fail_and_publishes(app: Flask) -> None:
    with app.app_context():
        version = services.create_rubric("R-1", rubric_document())
        # C1 starts at Proficient: it cannot fail C1, but C2 and C3 still can fail.
        first = version.criteria[0]
        first.levels = [level for level in first.levels if level.score >= 2]
        version.passing_level = "Proficient"
        db.session.commit()
        assert services.publish_problems(version) == []
        services.publish(version)
        db.session.commit()
        assert services.get_version("R-1", 1).is_published


@pytest.mark.parametrize("threshold", [3.01, 4, 100])
def test_threshold_above_the_best_score_is_refused(app: Flask, threshold: float) -> None:
    document = rubric_document(passing_rule={"kind": "weighted_threshold", "threshold": threshold})
    assert _refused_publish(app, document) == [
        "The passing rule cannot be met: the best possible score is 3."
    ]


@pytest.mark.parametrize("threshold", [0, -0.5, -10])
def test_threshold_at_or_below_the_worst_score_is_refused(app: Flask, threshold: float) -> None:
    document = rubric_document(passing_rule={"kind": "weighted_threshold", "threshold": threshold})
    assert _refused_publish(app, document) == [
        "The passing rule cannot be failed: the lowest possible score is 0."
    ]


def test_threshold_bounds_follow_the_weights(app: Flask) -> None:
    # C1 (weight 3) scores 10-13, C2 (weight 1) scores 0-3: best 10.5, worst 7.5.
    document = rubric_document(passing_rule={"kind": "weighted_threshold", "threshold": 10.6})
    with app.app_context():
        version = services.create_rubric("R-1", document)
        first, _second, third = version.criteria
        version.criteria.remove(third)
        first.weight = 3
        for level in first.levels:
            level.score += 10
        db.session.commit()
        assert services.publish_problems(version) == [
            "The passing rule cannot be met: the best possible score is 10.5."
        ]
        version.passing_threshold = 7.5
        assert services.publish_problems(version) == [
            "The passing rule cannot be failed: the lowest possible score is 7.5."
        ]
        version.passing_threshold = 10.5
        assert services.publish_problems(version) == []
        version.passing_threshold = 7.51
        assert services.publish_problems(version) == []


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "all_at_least", "level": "Developing"},
        {"kind": "all_at_least", "level": "Exemplary"},
        {"kind": "weighted_threshold", "threshold": 3},  # only all-Exemplary passes
        {"kind": "weighted_threshold", "threshold": 0.01},  # only all-Not-Yet fails
    ],
    ids=["lowest-but-one", "top-level", "threshold-at-best", "threshold-just-above-worst"],
)
def test_valid_rubric_publishes_with_timestamp_and_audit_event(
    app: Flask, rule: dict[str, Any]
) -> None:
    with app.app_context():
        version = services.create_rubric("R-1", rubric_document(passing_rule=rule), actor_id=42)
        db.session.commit()
        before = datetime.now(UTC)
        services.publish(version, actor_id=42)
        db.session.commit()
        db.session.expire_all()

        stored = services.get_version("R-1", 1)
        assert stored.status == VersionStatus.PUBLISHED
        assert stored.published_at is not None
        assert before - timedelta(seconds=1) <= stored.published_at <= datetime.now(UTC)
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "rubric.published")
        ).one()
        assert (event.entity_type, event.entity_id) == ("rubric_version", str(stored.id))
        assert event.actor_id == 42
        assert event.after == {"code": "R-1", "number": 1}
        assert verify_chain().ok


def test_publishing_twice_is_a_conflict_and_keeps_the_first_timestamp(app: Flask) -> None:
    with app.app_context():
        version = services.publish(services.create_rubric("R-1", rubric_document()))
        db.session.commit()
        first_published_at = version.published_at
        with pytest.raises(ConflictError):
            services.publish(services.get_version("R-1", 1))
        db.session.rollback()
        assert services.get_version("R-1", 1).published_at == first_published_at
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "rubric.published")
        ).all()
        assert len(events) == 1


# --- Through the API ----------------------------------------------------------


def _create_through_api(client: Any, headers: dict[str, str], document: dict[str, Any]) -> None:
    created = client.post(
        "/api/v1/rubrics", json={"code": "R-1", "document": document}, headers=headers
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "draft"


def test_api_refuses_invalid_publish_with_every_reason(app: Flask, signed_in: Any) -> None:
    client, headers = admin_client(signed_in)
    levels = [{**level, "score": score} for level, score in zip(LEVELS, [0, 2, 1, 3], strict=True)]
    _create_through_api(client, headers, rubric_document(levels=levels))

    response = client.post("/api/v1/rubrics/R-1/versions/1/publish", headers=headers)

    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid"
    assert body["errors"] == {
        "rubric": [
            f"Criterion {key}: level scores must rise strictly from first to last."
            for key in ("C1", "C2", "C3")
        ]
    }
    version = client.get("/api/v1/rubrics/R-1/versions/1").get_json()
    assert version["status"] == "draft"
    assert version["published_at"] is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"criteria": []}, "Add at least one criterion."),
        (
            {"passing_rule": {"kind": "all_at_least", "level": "Not Yet"}},
            "The passing rule cannot be failed: 'Not Yet' is the lowest level of every criterion.",
        ),
        (
            {"passing_rule": {"kind": "weighted_threshold", "threshold": 5}},
            "The passing rule cannot be met: the best possible score is 3.",
        ),
        (
            {"passing_rule": {"kind": "weighted_threshold", "threshold": 0}},
            "The passing rule cannot be failed: the lowest possible score is 0.",
        ),
    ],
    ids=["no-criteria", "cannot-fail-level", "cannot-meet-threshold", "cannot-fail-threshold"],
)
def test_api_lists_the_reason_a_rule_is_refused(
    app: Flask, signed_in: Any, changes: dict[str, Any], reason: str
) -> None:
    client, headers = admin_client(signed_in)
    _create_through_api(client, headers, rubric_document(**changes))
    response = client.post("/api/v1/rubrics/R-1/versions/1/publish", headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"rubric": [reason]}


def test_api_publishes_a_valid_version(app: Flask, signed_in: Any) -> None:
    client, headers = admin_client(signed_in)
    _create_through_api(client, headers, rubric_document())

    response = client.post("/api/v1/rubrics/R-1/versions/1/publish", headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "published"
    assert body["published_at"] is not None
    assert client.get("/api/v1/rubrics/R-1/versions/1").get_json()["status"] == "published"
    again = client.post("/api/v1/rubrics/R-1/versions/1/publish", headers=headers)
    assert again.status_code == 409
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "rubric.published")
        ).one()
        assert event.actor_id is not None


# --- The seeded catalog -------------------------------------------------------


SEEDED = sorted(CATALOG.glob("*.yaml"))


def test_catalog_has_seeded_rubrics() -> None:
    assert len(SEEDED) >= 10


@pytest.mark.parametrize("path", SEEDED, ids=[path.stem for path in SEEDED])
def test_seeded_rubric_loads_and_publishes(app: Flask, path: Path) -> None:
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    document = RubricDocumentSchema().load(entry["rubric"])
    with app.app_context():
        version = services.create_rubric(entry["code"], document)
        assert services.publish_problems(version) == []
        services.publish(version)
        db.session.commit()
        db.session.expire_all()
        stored = services.get_version(entry["code"], 1)
        assert stored.is_published
        assert [c.key for c in stored.criteria] == [c["key"] for c in document["criteria"]]
        assert all(
            [level.name for level in criterion.levels]
            == [level["name"] for level in document["levels"]]
            for criterion in stored.criteria
        )
        # What is stored reads back as the document that was seeded.
        assert RubricDocumentSchema().load(services.document_from_version(stored)) == document


def test_levels_are_stored_in_document_order(app: Flask) -> None:
    with app.app_context():
        services.create_rubric("R-1", rubric_document())
        db.session.commit()
        names = db.session.scalars(
            select(CriterionLevel.name).order_by(
                CriterionLevel.criterion_id, CriterionLevel.position
            )
        ).all()
    assert names == [level["name"] for level in LEVELS] * 3
