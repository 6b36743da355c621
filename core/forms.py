"""HTML forms validated by the same marshmallow schemas as the API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import request
from marshmallow import Schema, ValidationError


def parse_form(
    schema: Schema, list_fields: tuple[str, ...] = ()
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Validate the posted form; return ``(data, {})`` or ``(None, errors)``."""
    raw: dict[str, Any] = request.form.to_dict(flat=True)
    for name in list_fields:
        raw[name] = request.form.getlist(name)
    try:
        return schema.load(raw), {}
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return None, messages


def safe_next_url(target: str | None) -> str | None:
    """Only same-site relative paths: no scheme, no host, no ``//`` or ``\\`` tricks."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return None
    return target


def flatten_messages(messages: Any) -> list[str]:
    """Marshmallow nests list-item errors (``{0: [...]}``); a person wants lines."""
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, dict):
        return [line for value in messages.values() for line in flatten_messages(value)]
    if isinstance(messages, list | tuple):
        return [line for value in messages for line in flatten_messages(value)]
    return [str(messages)]
