"""Job functions used by the tests (RQ imports jobs by dotted name)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from core.jobs import job


@job
def always_fails(note: str) -> None:
    marker = Path(current_app.instance_path) / "attempts.txt"
    with marker.open("a") as handle:
        handle.write(note + "\n")
    raise RuntimeError(f"deliberate failure: {note}")
