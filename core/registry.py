"""How domains plug into core without core importing them: each domain's
``init_app`` registers its seeders and role home pages here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class Seeder:
    """``run()`` loads data idempotently and returns lines worth printing."""

    name: str
    run: Callable[[], list[str]]
    demo_only: bool = False


def register_seeder(app: Flask, seeder: Seeder) -> None:
    app.extensions.setdefault("microcred_seeders", []).append(seeder)


def seeders(app: Flask, *, include_demo: bool) -> list[Seeder]:
    """Data seeders first, demo seeders last (they may use the data)."""
    registered = app.extensions.get("microcred_seeders", [])
    ordered = [s for s in registered if not s.demo_only]
    if include_demo:
        ordered += [s for s in registered if s.demo_only]
    return ordered


def set_role_home(app: Flask, role: str, endpoint: str) -> None:
    """The page a user of ``role`` lands on; a later domain may take it over."""
    app.extensions.setdefault("microcred_role_home", {})[role] = endpoint


def role_home(app: Flask, role: str) -> str | None:
    return app.extensions.get("microcred_role_home", {}).get(role)


@dataclass(frozen=True)
class DoctorCheck:
    """An invariant ``microcred doctor`` checks on a live database.

    ``run()`` returns the problems found, one sentence each (empty when all is
    well); ``repair()``, when given, fixes what can be fixed safely (re-enqueues
    idempotent work) and returns lines saying what it did.
    """

    name: str
    description: str
    run: Callable[[], list[str]]
    repair: Callable[[], list[str]] | None = None


def register_doctor_check(app: Flask, check: DoctorCheck) -> None:
    app.extensions.setdefault("microcred_doctor_checks", []).append(check)


def doctor_checks(app: Flask) -> list[DoctorCheck]:
    return list(app.extensions.get("microcred_doctor_checks", []))


@dataclass(frozen=True)
class StoredFileColumn:
    """A column holding storage keys (SHA-256) of files a backup must carry."""

    table: str
    column: str


def register_stored_file_column(app: Flask, table: str, column: str) -> None:
    app.extensions.setdefault("microcred_stored_file_columns", []).append(
        StoredFileColumn(table, column)
    )


def stored_file_columns(app: Flask) -> list[StoredFileColumn]:
    return list(app.extensions.get("microcred_stored_file_columns", []))


def register_restore_hook(app: Flask, hook: Callable[[], list[str]]) -> None:
    """Run after ``microcred restore`` has loaded the rows (rebuild derived data)."""
    app.extensions.setdefault("microcred_restore_hooks", []).append(hook)


def restore_hooks(app: Flask) -> list[Callable[[], list[str]]]:
    return list(app.extensions.get("microcred_restore_hooks", []))
