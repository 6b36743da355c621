"""Running real worker processes with fault points, and reading the outcome."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from core.doctor import run_doctor
from core.extensions import db
from core.faults import ENV_FAULTS, ENV_MARKERS

ROOT = Path(__file__).resolve().parents[2]
CONFIG_KEYS = (
    "TESTING",
    "DATABASE_URL",
    "REDIS_URL",
    "PUBLIC_BASE_URL",
    "JOB_RETRY_INTERVALS",
    "MAIL_OUTBOX_PATH",
    "STORAGE_PATH",
    "UPLOAD_STAGING_PATH",
    "SECRET_KEY",
)


def worker_config(app: Flask) -> dict[str, Any]:
    config = {key: app.config[key] for key in CONFIG_KEYS if key in app.config}
    config["INSTANCE_PATH"] = app.instance_path
    return config


class WorkerProcess:
    """``microcred worker`` in its own process group, so SIGKILL takes the work horse too."""

    def __init__(
        self, app: Flask, tmp: Path, *, fault: str | None = None, burst: bool = False
    ) -> None:
        self.markers = tmp / "markers"
        self.log = tmp / f"worker-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if k not in (ENV_FAULTS, ENV_MARKERS)}
        if fault:
            env[ENV_FAULTS] = f"{fault}=hang"
            env[ENV_MARKERS] = str(self.markers)
        self.fault = fault
        args = [sys.executable, "-m", "tests.faults.worker_main", json.dumps(worker_config(app))]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*args, *(["burst"] if burst else [])],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for_fault(self, timeout: float = 120) -> float:
        """Block until the worker stands at its fault point; return the seconds it took."""
        assert self.fault
        started = time.monotonic()
        marker = self.markers / self.fault
        while not marker.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log.read_text()[-4000:]}")
            if time.monotonic() - started > timeout:
                self.kill()
                raise AssertionError(f"fault point not reached:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.05)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the worker and its work horse (RQ puts the horse in a process group
        of its own; the marker names it), as a crash or the OOM killer would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # first, so it cannot see the horse die
        marker = self.markers / self.fault if self.fault else None
        if marker is not None and marker.exists():
            horse = int(marker.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(horse, signal.SIGKILL)
            _wait_gone(horse)
        self.process.wait(30)

    def finish(self, timeout: float = 300) -> None:
        """Wait for a burst worker to empty the queues."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        assert code == 0, self.log.read_text()[-4000:]


def _wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state == "Z":  # dead, waiting to be reaped by init
            return
        time.sleep(0.05)


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def doctor_problems(app: Flask, *, repair: bool = False) -> dict[str, list[str]]:
    with app.app_context():
        report = run_doctor(app, repair=repair)
    return {check.name: check.problems for check in report.checks if check.problems}
