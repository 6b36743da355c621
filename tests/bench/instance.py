"""A throwaway instance for the badge benchmarks: migrated, seeded, with the demo
badge issued through the real workflow (embedded Redis unless REDIS_URL is set;
SQLite unless DATABASE_URL is set)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask


@contextmanager
def demo_instance(**overrides: str) -> Iterator[tuple[Flask, Path]]:
    """Yield the app and its instance folder; everything is removed afterwards."""
    from core.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="microcred-bench-") as folder:
        instance = Path(folder)
        saved = dict(os.environ)
        redis_server = None
        try:
            os.environ["MICROCRED_INSTANCE"] = str(instance)
            os.environ.setdefault("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
            os.environ.update(overrides)
            if not os.environ.get("REDIS_URL"):
                redis_server = EmbeddedRedis(instance / "redis", persist=False)
                redis_server.start()
                os.environ["REDIS_URL"] = redis_server.url
            from core.app import create_app
            from core.serve import prepare_instance

            app = create_app()
            prepare_instance(app, include_demo=True)
            yield app, instance
        finally:
            os.environ.clear()
            os.environ.update(saved)
            if redis_server is not None:
                redis_server.stop()
