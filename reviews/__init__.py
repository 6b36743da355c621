"""Reviews: assignment, blind scoring, decisions, adjudication, appeals, calibration."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from reviews import models  # noqa: F401, PLC0415 - models register with the metadata
