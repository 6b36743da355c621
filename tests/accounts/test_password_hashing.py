"""Passwords are stored as argon2id hashes, at RFC 9106's cost unless the test suite says otherwise."""

from __future__ import annotations

from argon2 import extract_parameters, profiles
from flask import Flask

from accounts.models import User
from accounts.services import authenticate, hash_password
from core.extensions import db
from tests.conftest import PASSWORD, make_user


def test_a_password_is_stored_as_an_argon2id_hash_and_still_signs_in(app: Flask) -> None:
    user_id = make_user(app, "hash@example.org")
    with app.app_context():
        stored = db.session.get(User, user_id).password_hash
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert authenticate("hash@example.org", PASSWORD) is not None
        assert authenticate("hash@example.org", PASSWORD + "!") is None


def test_outside_the_test_suite_hashes_cost_what_rfc_9106_recommends(app: Flask) -> None:
    strong = profiles.RFC_9106_LOW_MEMORY
    with app.app_context():
        assert app.config["PASSWORD_HASH_PROFILE"] == "test"  # what keeps the suite fast
        cheap = extract_parameters(hash_password(PASSWORD))
        app.config["PASSWORD_HASH_PROFILE"] = "default"
        default = extract_parameters(hash_password(PASSWORD))
    assert (default.time_cost, default.memory_cost) == (strong.time_cost, strong.memory_cost)
    assert cheap.memory_cost < default.memory_cost
