"""Credentials: competency frameworks (CASE), micro-credentials, stacks, the catalog."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from credentials import models  # noqa: F401 - models register with the metadata
