"""A real RQ worker process for the fault tests: ``python -m tests.faults.worker_main
CONFIG_JSON [burst]``. Fault points come from MICROCRED_FAULTS in its environment."""

from __future__ import annotations

import json
import sys

from core.app import create_app
from core.worker import run_worker

if __name__ == "__main__":
    app = create_app(json.loads(sys.argv[1]))
    run_worker(app, burst=len(sys.argv) > 2 and sys.argv[2] == "burst")
