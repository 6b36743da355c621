"""The authoring editor's document format: YAML text in, validated document out."""

from __future__ import annotations

from typing import Any

import yaml
from marshmallow import ValidationError

from core.forms import flatten_messages
from credentials.schemas import MicroCredentialDocumentSchema

MAX_DOCUMENT_CHARS = 200_000


def error_paths(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested errors as ``{"rubric.criteria[0].descriptors": [...]}``."""
    if isinstance(messages, dict):
        paths: dict[str, list[str]] = {}
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "document"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, lines in error_paths(value, path).items():
                paths.setdefault(sub_path, []).extend(lines)
        return paths
    return {prefix or "document": flatten_messages(messages)}


def parse_document(source: str) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """Parse and validate editor text; return ``(document, {})`` or ``(None, errors)``."""
    if len(source) > MAX_DOCUMENT_CHARS:
        return None, {"document": [f"The document is longer than {MAX_DOCUMENT_CHARS} characters."]}
    try:
        raw = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it is not valid YAML"
        return None, {"document": [f"The document cannot be read{where}: {problem}."]}
    if not isinstance(raw, dict):
        return None, {"document": ["The document must be a set of fields (code, title, …)."]}
    try:
        return MicroCredentialDocumentSchema().load(raw), {}
    except ValidationError as exc:
        return None, error_paths(exc.messages)


def dump_document(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
