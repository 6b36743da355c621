"""Schemathesis against the live OpenAPI document of the WSGI app, with seeded data
(the catalog, the demo accounts and the demo badge earned through the real workflow).

Each generated request is sent with the API token of one of the demo users (admin,
teacher, reviewer, verifier) or none, chosen by Hypothesis. Every answer must be a
non-5xx response whose status is documented and whose body matches its documented
schema. ``FUZZ_EXAMPLES`` sets the number of generated examples per operation (small
here so the suite stays quick; ``scripts/fuzz_api.sh`` runs many more against gunicorn).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from sqlalchemy import select

from accounts.models import ApiToken, User
from accounts.services import create_api_token, find_user_by_email, set_roles
from core.app import create_app
from core.extensions import db
from core.jobs import redis_connection
from core.registry import seeders
from tests.conftest import _empty_database, make_config

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DEMO_USERS = {
    "admin": "admin@example.org",
    "teacher": "teacher@example.org",
    "reviewer": "reviewer@example.org",
    "verifier": "verifier@example.org",
}


class FuzzState:
    """The seeded app and the demo users' tokens and roles, put back whenever a
    generated request happens to revoke a token or change a role."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.tokens: dict[str, str] = {}
        self.roles: dict[str, list[str]] = {}
        with app.app_context():
            for name, email in DEMO_USERS.items():
                user = find_user_by_email(email)
                assert user is not None
                self.roles[name] = sorted(str(role) for role in user.roles)
        self.restore()

    def restore(self) -> None:
        with self.app.app_context():
            for name, email in DEMO_USERS.items():
                user = find_user_by_email(email)
                assert user is not None
                if sorted(str(role) for role in user.roles) != self.roles[name]:
                    admin = find_user_by_email(DEMO_USERS["admin"])
                    set_roles(admin, user, self.roles[name])
                if not self._token_works(name):
                    _token, self.tokens[name] = create_api_token(user, f"fuzz {name}")

    def _token_works(self, name: str) -> bool:
        if name not in self.tokens:
            return False
        prefix = self.tokens[name][:10]
        token = db.session.scalar(select(ApiToken).where(ApiToken.prefix == prefix))
        return token is not None and token.revoked_at is None

    def headers(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture(scope="module")
def fuzz_state(
    migrated: None, instance_root: Path, database_url: str, redis_url: str
) -> Iterator[FuzzState]:
    app = create_app(make_config(instance_root / "fuzz", database_url, redis_url))
    with app.app_context():
        redis_connection().flushdb()
        for seeder in seeders(app, include_demo=True):
            seeder.run()
        assert db.session.scalar(select(User).where(User.email == DEMO_USERS["teacher"]))
    yield FuzzState(app)
    with app.app_context():
        db.session.remove()
        _empty_database()
        redis_connection().flushdb()
        db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(fuzz_state: FuzzState) -> Any:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_state.app)


def _fuzz_operation(operation: Any, mode: GenerationMode, fuzz_state: FuzzState) -> None:
    @given(
        case=operation.as_strategy(generation_mode=mode),
        who=st.sampled_from(["admin", "teacher", "reviewer", "verifier", "anonymous"]),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any, who: str) -> None:
        try:
            case.call_and_validate(headers=fuzz_state.headers(who), checks=CHECKS)
        finally:
            if "/tokens" in case.path or "/roles" in case.path:
                fuzz_state.restore()

    run()


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_as_documented(
    api_schema: Any, fuzz_state: FuzzState, mode: GenerationMode
) -> None:
    """Schema-valid (positive) and schema-violating (negative) requests to every
    operation: never a 5xx, always a documented status and body."""
    failures: list[str] = []
    fuzzed = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz_operation(operation, mode, fuzz_state)
            fuzzed += 1
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters or body,
            # or only free-text path segments): the positive run covers it.
            assert mode == GenerationMode.NEGATIVE, operation.label
        except (Exception, FailureGroup) as error:  # report every operation's failures
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)
    assert fuzzed >= (80 if mode == GenerationMode.POSITIVE else 30)
