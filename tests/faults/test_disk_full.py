"""Disk full while evidence is stored: the uploader gets a clear 507, no half-written
file or row is left, and the same upload works once there is space again."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from accounts.models import Role
from core.faults import inject
from evidence.models import EvidenceItem, StoredFile, UploadSession
from tests.evidence.helpers import TeacherSession, pdf_bytes
from tests.faults.helpers import count, doctor_problems


def _files(folder: str) -> list[Path]:
    root = Path(folder)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("point", ["storage.write", "storage.put"])
def test_disk_full_during_a_one_request_upload(
    app: Flask, seeded: Flask, signed_in, point: str
) -> None:
    teacher = TeacherSession(signed_in(Role.TEACHER))
    submission = teacher.start("UDL-05")
    with inject(point, "enospc"):
        response = teacher.upload(submission["id"], "A1", "plan.pdf", pdf_bytes())
    assert response.status_code == 507
    body = response.get_json()
    assert body["code"] == "storage_full"
    assert "not saved" in body["message"] and "Try again" in body["message"]
    assert count(app, StoredFile) == 0 and count(app, EvidenceItem) == 0
    assert _files(app.config["UPLOAD_STAGING_PATH"]) == []
    assert _files(app.config["STORAGE_PATH"]) == []

    retry = teacher.upload(submission["id"], "A1", "plan.pdf", pdf_bytes())
    assert retry.status_code == 201, retry.get_json()
    assert count(app, StoredFile) == 1
    assert doctor_problems(app) == {}


def test_disk_full_during_a_resumable_upload_keeps_what_was_written(
    app: Flask, seeded: Flask, signed_in
) -> None:
    teacher = TeacherSession(signed_in(Role.TEACHER))
    submission = teacher.start("UDL-05")
    data = pdf_bytes("A long plan " * 50)
    half = len(data) // 2
    started = teacher.client.post(
        f"/api/v1/submissions/{submission['id']}/parts/A1/uploads",
        json={"filename": "plan.pdf", "length": len(data)},
        headers=teacher.headers,
    )
    assert started.status_code == 201, started.get_json()
    location = started.headers["Location"]

    def patch(offset: int, chunk: bytes) -> object:
        return teacher.client.patch(
            location,
            data=chunk,
            headers={
                **teacher.headers,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )

    assert patch(0, data[:half]).status_code == 204
    with inject("storage.write", "enospc"):
        full = patch(half, data[half:])
    assert full.status_code == 507
    assert full.get_json()["code"] == "storage_full"
    resume = teacher.client.head(location, headers=teacher.headers)
    assert resume.headers["Upload-Offset"] == str(half)  # the failed part was cut off
    assert count(app, EvidenceItem) == 0

    done = patch(half, data[half:])
    assert done.status_code == 201, done.get_json()
    assert count(app, EvidenceItem) == 1 and count(app, UploadSession) == 1
    assert doctor_problems(app) == {}
