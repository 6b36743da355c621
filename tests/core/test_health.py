"""/healthz reports database, Redis and workers; 503 when one is down."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from rq import Worker

from core.embedded_redis import EmbeddedRedis
from core.jobs import get_queue, redis_connection
from tests.conftest import free_port


def test_healthy_with_a_registered_worker(app: Flask, client) -> None:
    with app.app_context():
        worker = Worker([get_queue("default")], connection=redis_connection())
        worker.register_birth()
    try:
        response = client.get("/healthz")
        assert response.status_code == 200
        body = response.get_json()
        assert body["status"] == "ok"
        assert body["checks"]["workers"] == {"status": "ok", "count": 1}
    finally:
        worker.register_death()


def test_no_worker_is_reported_as_down(app: Flask, client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["workers"]["status"] == "down"
    assert response.get_json()["checks"]["database"]["status"] == "ok"


def test_stopped_redis_is_reported(app: Flask, client, tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", port=free_port(), persist=False)
    server.start()
    shared = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = server.url
    try:
        assert client.get("/healthz").get_json()["checks"]["redis"]["status"] == "ok"
        server.stop()
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "down"
        assert body["checks"]["redis"]["status"] == "down"
        assert body["checks"]["database"]["status"] == "ok"
    finally:
        app.config["REDIS_URL"] = shared
        server.stop()


def test_unreachable_database_is_reported(app: Flask, client, tmp_path: Path) -> None:
    from core.app import create_app
    from tests.conftest import IsolatedClient, make_config

    broken = create_app(
        make_config(
            tmp_path,
            "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
            app.config["REDIS_URL"],
        )
    )
    broken.test_client_class = IsolatedClient
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"]["status"] == "down"
