"""What an import works out before its first write, and how it finds the nodes
a package's links point at."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.errors import InvalidError
from core.extensions import db
from credentials.case.uris import uri_key
from credentials.models import Framework, FrameworkItem
from rubrics.models import RubricVersion

IN_CHUNK = 500  # identifiers per IN (...) query; far below every database's limit

Problem = dict[str, str]


class InvalidCasePackage(InvalidError):
    """A malformed or partial package: every problem with its JSON path."""

    status, code = 400, "invalid_case_package"

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> InvalidCasePackage:
        return cls(
            f"The CASE package has {len(problems)} problem(s); nothing was imported.",
            {"problems": problems},
        )


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


# A reference to a node: the identifier of the document or of a package item,
# or an item already stored here.
Node = str | FrameworkItem


@dataclass
class Plan:
    """Everything the writes need, worked out (and checked) before the first one."""

    document: dict[str, Any]
    items: list[dict[str, Any]]
    existing: Framework | None = None
    existing_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_of: dict[str, str | None] = field(default_factory=dict)
    position_of: dict[str, int] = field(default_factory=dict)
    depth_of: dict[str, int] = field(default_factory=dict)
    # (JSON path, CFAssociation, origin, destination) of the associations kept as rows
    associations: list[tuple[str, dict[str, Any], Node, Node]] = field(default_factory=list)
    new_versions: list[RubricVersion] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[Problem] = field(default_factory=list)

    def problem(self, path: str, message: str) -> None:
        self.problems.append({"path": path, "message": message})


def _stored_items(links: list[dict[str, Any]]) -> dict[str, FrameworkItem]:
    """Items already stored that ``links`` may mean, keyed by identifier and URI."""
    keys = sorted({key for link in links for key in (link["identifier"], uri_key(link["uri"]))})
    uris = sorted({link["uri"] for link in links})
    found: dict[str, FrameworkItem] = {}
    for chunk in chunks(keys):
        for item in db.session.scalars(
            select(FrameworkItem).where(FrameworkItem.identifier.in_(chunk))
        ):
            found[item.identifier] = item
    for chunk in chunks(uris):
        for item in db.session.scalars(select(FrameworkItem).where(FrameworkItem.uri.in_(chunk))):
            found[uri_key(item.uri or "")] = item
    return found


class Resolver:
    """Turns LinkURIs into nodes: the package first, then items stored here."""

    def __init__(self, plan: Plan, links: list[dict[str, Any]]) -> None:
        self.plan = plan
        self.package: dict[str, str] = {}
        for node in (plan.document, *plan.items):
            if "identifier" in node:
                self.package[node["identifier"]] = node["identifier"]
                if "uri" in node:
                    self.package.setdefault(uri_key(node["uri"]), node["identifier"])
        complete = [link for link in links if {"identifier", "uri"} <= link.keys()]
        self.stored = _stored_items([link for link in complete if self._in_package(link) is None])

    def _in_package(self, link: dict[str, Any]) -> str | None:
        return self.package.get(link["identifier"]) or self.package.get(uri_key(link["uri"]))

    def __call__(self, link: dict[str, Any] | None, path: str) -> Node | None:
        if not link or not {"identifier", "uri"} <= link.keys():
            return None  # already reported by the schema
        node = self._in_package(link) or self.stored.get(link["identifier"])
        node = node or self.stored.get(uri_key(link["uri"]))
        if node is None:
            self.plan.problem(
                path,
                f"Points at {link['uri']} ({link['identifier']}), which is neither in this "
                "package nor stored here.",
            )
        return node
