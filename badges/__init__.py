"""Badges: Open Badges 3.0 credentials, signed PDFs, revocation, verification, transcripts."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from badges import models  # noqa: F401 - models register with the metadata
