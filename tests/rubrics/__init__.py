"""Shared builders for the rubric tests: one valid document, admin clients."""

from __future__ import annotations

import copy
from typing import Any

from flask.testing import FlaskClient

from accounts.models import Role
from tests.conftest import csrf_from

LEVELS = [
    {"name": "Not Yet", "score": 0},
    {"name": "Developing", "score": 1},
    {"name": "Proficient", "score": 2},
    {"name": "Exemplary", "score": 3},
]

_DOCUMENT: dict[str, Any] = {
    "title": "Test rubric",
    "description": "A rubric used by the tests.",
    "levels": LEVELS,
    "passing_rule": {"kind": "all_at_least", "level": "Proficient"},
    "criteria": [
        {
            "key": key,
            "title": f"Criterion {key}",
            "description": f"What {key} judges.",
            "weight": 1.0,
            "evidence_parts": ["A1"],
            "descriptors": {level["name"]: f"{key} at {level['name']}." for level in LEVELS},
        }
        for key in ("C1", "C2", "C3")
    ],
}


def rubric_document(**changes: Any) -> dict[str, Any]:
    """A valid rubric document (a fresh copy), with top-level fields replaced."""
    document = copy.deepcopy(_DOCUMENT)
    document.update(copy.deepcopy(changes))
    return document


def admin_client(signed_in: Any, role: Role = Role.PROGRAM_ADMIN) -> tuple[FlaskClient, dict]:
    """A client signed in with an admin role, and the CSRF header its writes need."""
    client = signed_in(role)
    return client, {"X-CSRFToken": csrf_from(client, "/account")}


def version_content(body: dict[str, Any]) -> dict[str, Any]:
    """What a person reads in a version from the API, without ids and timestamps."""
    return {
        "title": body["title"],
        "description": body["description"],
        "passing_rule": body["passing_rule"],
        "criteria": [
            {
                key: criterion[key]
                for key in ("key", "title", "description", "weight", "evidence_parts")
            }
            | {"levels": [dict(level) for level in criterion["levels"]]}
            for criterion in body["criteria"]
        ],
    }
