"""``microcred serve`` on a fresh instance folder: the README's run command."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

HOMES = {
    "teacher@example.org": "My portfolio",
    "reviewer@example.org": "My review queue",
    "reviewer2@example.org": "My review queue",
    "admin@example.org": "Catalog and operations",
    "verifier@example.org": "Verify a badge",
}


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _command() -> list[str]:
    script = Path(sys.executable).with_name("microcred")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def _sign_in(base: str, email: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base}/sign-in", timeout=10).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token})
    return opener.open(f"{base}/sign-in", data=body.encode(), timeout=10).read().decode()


@pytest.mark.slow
def test_serve_starts_fresh_instance_and_stops_children_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["MICROCRED_INSTANCE"] = str(tmp_path / "instance")
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_command(), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    health = response.status
                    break
            except OSError:  # refused, reset or timed out while starting
                time.sleep(0.5)
        assert health == 200, log_path.read_text()
        assert (tmp_path / "instance" / "microcred.db").exists()

        output = log_path.read_text()
        for email, heading in HOMES.items():
            password = re.search(rf"{re.escape(email)}\s+(\S+)", output).group(1)
            try:
                page = _sign_in(base, email, password)
            except OSError as exc:
                raise AssertionError(f"{email}: {exc}\n{log_path.read_text()}") from exc
            assert heading in page, email

        # The demo teacher's badge was earned through the real workflow and verifies.
        badge_url = re.search(r"Demo badge \(held by teacher@example.org\): (\S+)", output).group(1)
        assert badge_url.startswith(base + "/badges/")
        with urllib.request.urlopen(badge_url, timeout=10) as response:
            assert "✓ Valid" in response.read().decode()

        children = _descendants(process.pid)
        assert len(children) >= 3  # Redis, the worker, the web server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log_path.read_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if _alive(pid)], log_path.read_text()
