"""Load the seeded catalog from ``credentials/catalog`` (idempotent).

The files are checked with the same schemas as the API. What exists already is
left as it is, so running the seed twice changes nothing and never overwrites an
administrator's later edits.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError
from sqlalchemy import select

from core.extensions import db
from credentials import services
from credentials.models import Framework, MicroCredential, Stack
from credentials.schemas import (
    FrameworkDocumentSchema,
    MicroCredentialDocumentSchema,
    StackDocumentSchema,
)


class SeedError(RuntimeError):
    """A catalog file does not validate; the message names the file and fields."""


def catalog_dir() -> Path:
    return Path(str(importlib.resources.files("credentials") / "catalog"))


# libyaml's parser when PyYAML has it (its wheels do): the same safe loader, ten
# times faster than the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def _validated(schema: Any, data: Any, source: str) -> Any:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise SeedError(f"{source}: {exc.messages}") from exc


def read_catalog(directory: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every catalog document, validated; raises SeedError naming the bad file."""
    directory = directory or catalog_dir()
    frameworks = [
        _validated(FrameworkDocumentSchema(), entry, f"frameworks.yaml[{index}]")
        for index, entry in enumerate(_load(directory / "frameworks.yaml"))
    ]
    credentials = [
        _validated(MicroCredentialDocumentSchema(), _load(path), path.name)
        for path in sorted((directory / "microcredentials").glob("*.yaml"))
    ]
    for document, path in zip(
        credentials, sorted((directory / "microcredentials").glob("*.yaml")), strict=True
    ):
        if path.stem != document["code"]:
            raise SeedError(f"{path.name}: the file name must be the code {document['code']}.yaml")
    stacks = [
        _validated(StackDocumentSchema(), entry, f"stacks.yaml[{index}]")
        for index, entry in enumerate(_load(directory / "stacks.yaml"))
    ]
    return {"frameworks": frameworks, "credentials": credentials, "stacks": stacks}


def _ordered_by_prerequisites(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_code = {document["code"]: document for document in documents}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(code: str, trail: tuple[str, ...]) -> None:
        if code in placed or code not in by_code:
            return
        if code in trail:
            raise SeedError("Prerequisites form a cycle: " + " -> ".join((*trail, code)))
        for prerequisite in by_code[code]["prerequisites"]:
            place(prerequisite, (*trail, code))
        placed.add(code)
        ordered.append(by_code[code])

    for code in by_code:
        place(code, ())
    return ordered


def seed_catalog(directory: Path | None = None) -> list[str]:
    """Create whatever of the seeded catalog is missing; return a one-line summary."""
    catalog = read_catalog(directory)
    created = {"frameworks": 0, "micro-credentials": 0, "stacks": 0}
    existing_frameworks = set(db.session.scalars(select(Framework.code)))
    # Items first, then associations: they may point across frameworks.
    new_frameworks = [d for d in catalog["frameworks"] if d["code"] not in existing_frameworks]
    pending_associations = []
    for document in new_frameworks:
        framework = services.create_framework({**document, "associations": []})
        pending_associations.append((framework, document["associations"]))
        created["frameworks"] += 1
    db.session.flush()
    for framework, associations in pending_associations:
        for entry in associations:
            services.add_association(
                framework, entry["type"], entry["origin"], entry["destination"]
            )
    services.ensure_catalog_framework()
    existing_codes = set(db.session.scalars(select(MicroCredential.code)))
    for document in _ordered_by_prerequisites(catalog["credentials"]):
        if document["code"] in existing_codes:
            continue
        services.publish(services.create_draft(document))
        created["micro-credentials"] += 1
    existing_stacks = set(db.session.scalars(select(Stack.code)))
    for document in catalog["stacks"]:
        if document["code"] not in existing_stacks:
            services.create_stack(document)
            created["stacks"] += 1
    db.session.commit()
    if not any(created.values()):
        return ["Catalog: already seeded, nothing changed."]
    return [
        "Catalog: created "
        + ", ".join(f"{count} {name}" for name, count in created.items() if count)
        + "."
    ]
