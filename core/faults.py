"""Named fault points, for the fault-injection tests and nothing else.

``fault_point("reviews.assign.after_first")`` marks a place where a crash or a
full disk hurts most. It does nothing unless the point is switched on, either
for a whole process through ``MICROCRED_FAULTS`` (read once at import, so a
worker started by a test inherits it) or inside one process with ``inject``.
When nothing is switched on the call is one dictionary truth test.

``MICROCRED_FAULTS`` holds ``point=action`` pairs separated by commas:

- ``hang``: write ``<MICROCRED_FAULT_MARKERS>/<point>`` (holding the process id)
  and sleep until killed, so a test can SIGKILL the process exactly there;
- ``enospc``: raise ``OSError(ENOSPC)`` as a full disk would.

Production refuses to start with faults configured.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_FAULTS = "MICROCRED_FAULTS"
ENV_MARKERS = "MICROCRED_FAULT_MARKERS"
ACTIONS = ("hang", "enospc")


def _parse(raw: str) -> dict[str, str]:
    faults: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        point, _, action = pair.partition("=")
        if action not in ACTIONS:
            raise ValueError(f"{ENV_FAULTS}: {pair!r} needs point=action, action one of {ACTIONS}")
        faults[point] = action
    if faults and os.environ.get("MICROCRED_ENV", "").strip().lower() == "production":
        raise RuntimeError(f"{ENV_FAULTS} is for tests; unset it in production")
    return faults


_active: dict[str, str] = _parse(os.environ.get(ENV_FAULTS, ""))


def fault_point(name: str) -> None:
    """Fail here if the fault point ``name`` is switched on; otherwise nothing."""
    if _active and name in _active:
        _trigger(name, _active[name])


def _trigger(name: str, action: str) -> None:
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
    markers = Path(os.environ.get(ENV_MARKERS, "."))
    markers.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a test that sees the marker reads the pid at once.
    partial = markers / f".{name}.{os.getpid()}"
    partial.write_text(str(os.getpid()))
    partial.replace(markers / name)
    while True:  # until the test kills this process
        time.sleep(3600)


@contextmanager
def inject(name: str, action: str) -> Iterator[None]:
    """Switch a fault point on inside this process for the ``with`` block."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")
    previous = _active.get(name)
    _active[name] = action
    try:
        yield
    finally:
        if previous is None:
            _active.pop(name, None)
        else:
            _active[name] = previous
