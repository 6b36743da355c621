"""``microcred serve``: everything on one machine from one command.

Prepares the instance (database, migrations, seeded catalog, demo accounts),
starts an embedded Redis unless ``REDIS_URL`` is set, one RQ worker with the
cron scheduler, and a gunicorn web server (streaming request bodies, so
large uploads are never buffered whole); stops all of them on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click
from flask import Flask
from flask_migrate import upgrade

from core.embedded_redis import EmbeddedRedis
from core.registry import seeders


def prepare_instance(app: Flask, *, include_demo: bool) -> list[str]:
    """Run migrations and every seeder; return what the seeders want printed."""
    lines: list[str] = []
    with app.app_context():
        upgrade()
        for seeder in seeders(app, include_demo=include_demo):
            lines.extend(seeder.run())
    return lines


class Supervisor:
    """Starts child processes and stops them all together."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        # A session of its own: a Ctrl-C in the terminal reaches only this
        # supervisor, which then stops the children in order.
        self.children.append((name, subprocess.Popen(args, env=env, start_new_session=True)))  # noqa: S603

    def first_exited(self) -> tuple[str, int] | None:
        for name, child in self.children:
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop_all(self, timeout: float = 20.0) -> None:
        self.stopping = True
        for _name, child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _name, child in self.children:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def serve(host: str, port: int, threads: int) -> int:
    from core.app import create_app

    env = dict(os.environ)
    instance = Path(env.get("MICROCRED_INSTANCE", Path.cwd() / "instance")).resolve()
    env["MICROCRED_INSTANCE"] = str(instance)
    redis_server: EmbeddedRedis | None = None
    if not env.get("REDIS_URL"):
        redis_server = EmbeddedRedis(instance / "redis")
        redis_server.start()
        env["REDIS_URL"] = redis_server.url
        os.environ["REDIS_URL"] = redis_server.url
        click.echo(f"Embedded Redis started ({redis_server.url}).")
    os.environ["MICROCRED_INSTANCE"] = str(instance)
    if not env.get("PUBLIC_BASE_URL"):
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        env["PUBLIC_BASE_URL"] = f"http://{shown_host}:{port}"
        os.environ["PUBLIC_BASE_URL"] = env["PUBLIC_BASE_URL"]

    supervisor = Supervisor()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    try:
        app = create_app()
        production = app.config["MICROCRED_ENV"] == "production"
        for line in prepare_instance(app, include_demo=not production):
            click.echo(line)
        python = sys.executable
        supervisor.start("worker", [python, "-m", "core.cli", "worker", "--cron"], env)
        supervisor.start(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "--bind",
                f"{host}:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--timeout",
                "300",
                "--graceful-timeout",
                "20",
                "--error-logfile",
                "-",
                "core:create_app()",
            ],
            env,
        )
        click.echo(f"Microcred is running at {env['PUBLIC_BASE_URL']}  (Ctrl-C stops it)")
        while True:
            exited = supervisor.first_exited()
            if exited:
                name, code = exited
                click.echo(
                    f"The {name} process stopped (exit {code}); stopping the rest.", err=True
                )
                exit_code = 1
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("Stopping…")
    finally:
        supervisor.stop_all()
        if redis_server is not None:
            redis_server.stop()
    return exit_code
