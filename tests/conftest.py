"""Fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL is set)
and a real Redis (embedded, or the server in REDIS_URL), migrated once per run."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import create_engine, text

from accounts.models import Role, User
from accounts.services import create_user
from core.app import create_app
from core.config import sqlalchemy_url
from core.embedded_redis import EmbeddedRedis
from core.extensions import db
from core.jobs import QUEUES, get_queue, redis_connection, run_worker_hooks

PASSWORD = "correct horse battery staple"


def _own_redis_databases_per_worker() -> None:
    """Under pytest-xdist each worker gets Redis databases of its own on a shared
    server: the one in REDIS_URL minus twice its index (the e2e server takes the one
    below), so one worker's queued jobs never run in another's database."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("REDIS_URL", "")
    if not worker.startswith("gw") or not url or url.startswith("unix:"):
        return
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    own = base - 2 * int(worker[2:])
    if own < 0:
        raise pytest.UsageError(f"REDIS_URL's database {base} leaves none for worker {worker}")
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{own}"))


_own_redis_databases_per_worker()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    # A fresh schema per run, dropped at the end: runs never see each other's rows.
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin_engine = create_engine(sqlalchemy_url(url), isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()


@pytest.fixture(scope="session")
def instance_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


def make_config(instance: Path, database_url: str, redis_url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": "http://microcred.test",
        "JOB_RETRY_INTERVALS": [0, 0],
        "MAIL_OUTBOX_PATH": str(instance / "mail"),
        "STORAGE_PATH": str(instance / "storage"),
        "LOGIN_RATE_LIMIT": "5 per minute",
        "PASSWORD_HASH_PROFILE": "test",
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def migrated(instance_root: Path, database_url: str, redis_url: str) -> None:
    """Build the schema the way production does: through the migrations."""
    app = create_app(make_config(instance_root, database_url, redis_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _empty_database() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
        db.session.execute(text("DELETE FROM credential_search"))
    db.session.commit()


class IsolatedClient(FlaskClient):
    """Flask's test client keeps the last request's app context pushed until its
    next request; with two clients in one test the second would then run inside
    the first one's context (and see its signed-in user). Pop it at once."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        self._context_stack.close()
        return response


@pytest.fixture
def app(
    migrated: None, instance_root: Path, database_url: str, redis_url: str, request: Any
) -> Iterator[Flask]:
    extra = getattr(request, "param", None) or {}
    instance = instance_root / uuid.uuid4().hex[:8]
    application = create_app(make_config(instance, database_url, redis_url, **extra))
    application.test_client_class = IsolatedClient
    with application.app_context():
        redis_connection().flushdb()
    yield application
    with application.app_context():
        db.session.remove()
        _empty_database()
        redis_connection().flushdb()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _push_request_context() -> None:
    """Overrides pytest-flask's fixture of this name, which keeps one request
    context (and so one ``g`` and one database session) across all the requests
    of a test; each request here gets its own, as in production."""


@pytest.fixture
def redis(app: Flask) -> Redis:
    with app.app_context():
        return redis_connection()


def run_jobs(app: Flask) -> int:
    """Run every queued job in a real RQ worker until the queues are empty;
    return how many finished successfully. The process is prepared as a worker
    prepares itself (its worker hooks run: badges get a render helper)."""
    run_worker_hooks(app)
    with app.app_context():
        queues = [get_queue(name) for name in QUEUES]
        before = sum(queue.finished_job_registry.count for queue in queues)
        worker = SimpleWorker(queues, connection=redis_connection())
        worker.work(burst=True, logging_level="WARNING")
        return sum(queue.finished_job_registry.count for queue in queues) - before


def make_user(app: Flask, email: str, *roles: Role, password: str = PASSWORD, **fields: Any) -> int:
    with app.app_context():
        user = create_user(
            name=fields.pop("name", email.split("@")[0].title()),
            email=email,
            password=password,
            roles=roles or (Role.TEACHER,),
            **fields,
        )
        db.session.commit()
        return user.id


def get_user(app: Flask, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        db.session.expunge(user)
        return user


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client, "/sign-in")
    return client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def signed_in(app: Flask, client: FlaskClient) -> Any:
    """``signed_in(role)``: a client signed in as a new user with that role."""

    def _sign_in(*roles: Role, email: str | None = None) -> FlaskClient:
        address = email or f"{'-'.join(str(r) for r in roles) or 'user'}@example.org"
        make_user(app, address, *roles)
        response = sign_in(client, address)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _sign_in


@pytest.fixture
def seeded(app: Flask) -> Flask:
    """The app with the seeded catalog, loaded the real way."""
    from credentials.seed import seed_catalog

    with app.app_context():
        seed_catalog()
    return app
