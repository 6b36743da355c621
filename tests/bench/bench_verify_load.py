"""Benchmark: verification by badge id under 50 concurrent clients, against the
service's own ``/healthz``, on gunicorn with several workers and PostgreSQL, with an RQ worker running.

It creates a PostgreSQL database (``DATABASE_URL``, by default
``postgresql://postgres@127.0.0.1:5432/bench_verify_load``, dropped afterwards),
prepares the instance (migrations, catalog, demo badge through the real
workflow), starts gunicorn on 127.0.0.1 with WORKERS processes, and drives it
with CLIENTS keep-alive connections from one asyncio client for SECONDS per
endpoint, alternating endpoints twice:

* ``GET /healthz`` (database, Redis and workers checked);
* ``POST /api/v1/verifications`` with ``{"id": "<badge id>"}``: the full report
  (proof, issuer key, JSON Schema, status list, expiry);
* ``GET /badges/<id>``: the public verification page.

Rate limits are switched off for the run (``RATELIMIT_ENABLED=false``): they would
otherwise answer 429 to one client address making thousands of requests.
Goal: verification by id at least 0.5x the throughput of ``/healthz``.
Run: ``python tests/bench/bench_verify_load.py [SECONDS] [CLIENTS] [WORKERS]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
GOAL = 0.5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def admin_url(database_url: str) -> tuple[str, str]:
    parts = urlsplit(database_url)
    return parts._replace(path="/postgres").geturl(), parts.path.lstrip("/")


def recreate_database(database_url: str, *, drop_only: bool = False) -> None:
    import psycopg

    server, name = admin_url(database_url)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


async def drive(
    port: int, request: bytes, clients: int, seconds: float
) -> tuple[int, int, list[float]]:
    """Keep-alive clients sending ``request`` until time is up: (ok, errors, latencies)."""
    ok = errors = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal ok, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if status_line.split()[1:2] == [b"200"]:
                    ok += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return ok, errors, latencies


def http_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def main(seconds: float, clients: int, workers: int) -> int:
    database_url = os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_verify_load"
    )
    recreate_database(database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "RATELIMIT_ENABLED": "false",
    }
    server = worker = None
    try:
        with tempfile.TemporaryDirectory(prefix="microcred-load-") as folder:
            env["MICROCRED_INSTANCE"] = folder
            from tests.bench.instance import demo_instance

            with demo_instance(**{k: env[k] for k in ("DATABASE_URL", "PUBLIC_BASE_URL")}) as (
                app,
                _instance,
            ):
                from sqlalchemy import select

                from badges.models import Badge
                from core.extensions import db

                with app.app_context():
                    badge_id = db.session.scalars(select(Badge.id)).first()
                env["REDIS_URL"] = app.config["REDIS_URL"]
                env["MICROCRED_INSTANCE"] = app.instance_path
                env["STORAGE_PATH"] = app.config["STORAGE_PATH"]
                server = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        str(workers),
                        "--worker-class",
                        "gthread",
                        "--threads",
                        "4",
                        "--log-level",
                        "warning",
                        "wsgi:app",
                    ],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
                worker = subprocess.Popen(
                    [sys.executable, "-m", "core.cli", "worker"],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(120):
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                            if r.status == 200:
                                break
                    except OSError:
                        time.sleep(0.5)
                body = json.dumps({"id": badge_id}).encode()
                targets = {
                    "healthz": http_request("GET", "/healthz"),
                    "verify by id (API)": http_request("POST", "/api/v1/verifications", body),
                    "verification page": http_request("GET", f"/badges/{badge_id}"),
                }
                results: dict[str, list[tuple[int, int, list[float]]]] = {t: [] for t in targets}
                for request in targets.values():  # warm every worker
                    asyncio.run(drive(port, request, clients, 2))
                for _round in range(2):
                    for name, request in targets.items():
                        results[name].append(asyncio.run(drive(port, request, clients, seconds)))
    finally:
        for child in (server, worker):
            if child is not None:
                os.killpg(child.pid, signal.SIGTERM)
                child.wait(timeout=30)
        recreate_database(database_url, drop_only=True)

    print(
        f"{clients} clients, gunicorn {workers} workers x 4 threads, PostgreSQL, {os.cpu_count()} CPUs"
    )
    rates = {}
    for name, runs in results.items():
        ok = sum(r[0] for r in runs)
        errors = sum(r[1] for r in runs)
        latencies = sorted(x for r in runs for x in r[2])
        rates[name] = ok / (seconds * len(runs))
        p50 = latencies[len(latencies) // 2] * 1000
        p95 = latencies[int(len(latencies) * 0.95)] * 1000
        print(
            f"{name:22s} {rates[name]:8.1f} req/s  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"
            f"  errors {errors}"
        )
    ratio = rates["verify by id (API)"] / rates["healthz"]
    page_ratio = rates["verification page"] / rates["healthz"]
    print(
        f"verify by id / healthz: {ratio:.2f}x (goal >= {GOAL}x); page / healthz: {page_ratio:.2f}x"
    )
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    sys.exit(
        main(
            args[0] if args else 15.0,
            int(args[1]) if len(args) > 1 else 50,
            int(args[2]) if len(args) > 2 else 4,
        )
    )
