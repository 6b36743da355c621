"""Browser tests against the real thing: ``microcred serve`` (gunicorn, an RQ worker,
Redis, the database) in a subprocess, driven by the system's Chromium.

With ``DATABASE_URL`` / ``REDIS_URL`` set (CI's second pass) the server uses those
servers, but a database and a Redis db number of its own, so it never sees the rows
or the queues of the unit tests that run beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright
from redis import Redis

from tests.conftest import free_port

SCREENSHOTS = Path(__file__).parent / "screenshots"
# Ports Chromium refuses to open (net/base/port_util.cc); an ephemeral port is
# almost never one of them, but a refusal would look like a server failure.
CHROMIUM_UNSAFE_PORTS = {5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080}


@dataclass(frozen=True)
class Server:
    base_url: str
    instance: Path
    log: Path
    passwords: dict[str, str]

    def url(self, path: str) -> str:
        return self.base_url + path


def _port() -> int:
    while True:
        port = free_port()
        if port not in CHROMIUM_UNSAFE_PORTS:
            return port


def _own_postgres_database(url: str) -> tuple[str, str]:
    """Create an empty database beside the one in ``url``; return its URL and name."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _drop_postgres_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _other_redis_db(url: str) -> str:
    """The same Redis server, the db number just below the one the unit tests use;
    the browser tests own it and empty it."""
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        query = dict(parse_qsl(parts.query))
        query["db"] = str((int(query.get("db", 0)) - 1) % 16)
        return f"unix://{parts.path}?{urlencode(query)}"
    current = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(current - 1) % 16}"))


def _command() -> list[str]:
    script = Path(sys.executable).with_name("microcred")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def _wait_until_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"microcred serve exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:  # refused or 503 while the worker starts
            pass
        time.sleep(0.5)
    raise AssertionError(f"microcred serve did not become healthy:\n{log.read_text()}")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Package-scoped: the server and its worker stop when the browser tests end,
    not when the whole run does."""
    root = tmp_path_factory.mktemp("e2e")
    instance = root / "instance"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        MICROCRED_INSTANCE=str(instance),
        # Every journey signs several people in from 127.0.0.1 within a minute.
        LOGIN_RATE_LIMIT="1000 per minute",
    )
    database: tuple[str, str] | None = None
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"], name = _own_postgres_database(os.environ["DATABASE_URL"])
        database = (os.environ["DATABASE_URL"], name)
    redis_url = None
    if os.environ.get("REDIS_URL"):
        redis_url = env["REDIS_URL"] = _other_redis_db(os.environ["REDIS_URL"])
        # The database is new, so its ids start again at 1; jobs of an earlier run
        # (deterministic ids, results kept for minutes) must not be taken for its own.
        Redis.from_url(redis_url).flushdb()
    port = _port()
    base = f"http://127.0.0.1:{port}"
    log = root / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*_command(), "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(process, base, log)
        passwords = json.loads((instance / "demo-accounts.json").read_text())
        yield Server(base_url=base, instance=instance, log=log, passwords=passwords)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if database is not None:
            _drop_postgres_database(*database)
        if redis_url is not None:
            Redis.from_url(redis_url).flushdb()


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Chromium is not installed: the browser tests drive the system's Chromium "
            "(Debian package `chromium`, which .ci/run installs). Install it and run again.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    args = ["--disable-background-networking"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root (CI containers)
    launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="package")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
