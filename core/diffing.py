"""Side-by-side differences between two versions of a document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DiffRow:
    path: str
    change: str  # "added", "removed" or "changed"
    before: Any
    after: Any


def _label(item: Any, index: int) -> str:
    if isinstance(item, dict):
        for field in ("key", "code", "name"):
            if isinstance(item.get(field), str):
                return item[field]
    return str(index)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [{"key": "C1", "t": 2}]}`` → ``{"a.b": 1, "c[C1].t": 2}``.

    Lists of records are keyed by their ``key``/``code``/``name`` so that
    reordering or inserting one record does not show every later one as changed.
    Lists of plain values stay whole.
    """
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}[{_label(item, index)}]"))
            flat[f"{prefix}[{_label(item, index)}].#position"] = index + 1
        return flat
    return {prefix: value}


def diff_documents(before: dict[str, Any], after: dict[str, Any]) -> list[DiffRow]:
    old, new = flatten(before), flatten(after)
    rows: list[DiffRow] = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            rows.append(DiffRow(path, "removed", old[path], None))
        elif path not in old:
            rows.append(DiffRow(path, "added", None, new[path]))
        elif old[path] != new[path]:
            rows.append(DiffRow(path, "changed", old[path], new[path]))
    return rows
