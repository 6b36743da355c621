"""The S3 backend against a local S3-compatible server (moto's server mode)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer

from accounts.models import Role
from tests.conftest import free_port
from tests.evidence.helpers import TeacherSession, pdf_bytes


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="evidence")
    yield endpoint
    server.stop()


def test_uploads_downloads_and_deletes_through_s3(
    seeded: Flask, client: FlaskClient, signed_in, s3_endpoint: str
) -> None:
    seeded.config.update(STORAGE_BACKEND="s3", S3_BUCKET="evidence", S3_ENDPOINT_URL=s3_endpoint)
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    content = pdf_bytes("stored in object storage")
    item = teacher.upload(submission["id"], "A1", "plan.pdf", content).get_json()
    sha = hashlib.sha256(content).hexdigest()
    assert item["file"]["sha256"] == sha
    bucket = boto3.client("s3", endpoint_url=s3_endpoint)
    assert bucket.get_object(Bucket="evidence", Key=f"blobs/{sha}")["Body"].read() == content
    download = client.get(f"/api/v1/evidence-items/{item['id']}/file")
    assert download.status_code == 200 and download.data == content
    lock = teacher.lock(submission["id"])
    removed = client.delete(
        f"/api/v1/submissions/{submission['id']}/items/{item['id']}?lock_version={lock}",
        headers=teacher.headers,
    )
    assert removed.status_code == 204
    assert bucket.list_objects_v2(Bucket="evidence").get("KeyCount", 0) == 0
