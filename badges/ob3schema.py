"""Validation against 1EdTech's Open Badges 3.0 JSON Schema.

``jsonschema/ob_v3p0_achievementcredential_schema.json`` is the schema 1EdTech
publishes for ``AchievementCredential`` / ``OpenBadgeCredential`` (VC Data
Model 2.0 edition), shipped so validation never needs the network. Checked with
jsonschema-rs (draft 2019-09, formats included): a credential is checked on every
verification, so the validator must cost little next to the proof.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA_PATH = Path(__file__).with_name("jsonschema") / "ob_v3p0_achievementcredential_schema.json"


@cache
def _validator() -> jsonschema_rs.Draft201909Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema_rs.Draft201909Validator(schema, validate_formats=True)


def problems(document: Any) -> list[str]:
    """Every way the document breaks the schema, as ``path: message``; empty if valid."""
    found = []
    for error in _validator().iter_errors(document):
        path = "/".join(str(part) for part in error.instance_path) or "(the credential)"
        found.append(f"{path}: {error.message[:200]}")
    return sorted(found)
