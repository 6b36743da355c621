"""Fixtures for the catalog tests: the seeded catalog, loaded the real way."""

from __future__ import annotations

import pytest
from flask import Flask

from credentials.seed import seed_catalog


@pytest.fixture
def seeded(app: Flask) -> Flask:
    with app.app_context():
        seed_catalog()
    return app
