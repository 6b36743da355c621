"""Uploads: streamed, hashed, size-limited, typed by content, resumable."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from accounts.models import Role
from core.extensions import db
from evidence.models import StoredFile, UploadSession
from tests.evidence.helpers import TeacherSession, docx_bytes, pdf_bytes, png_bytes


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_upload_is_stored_by_its_sha256(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    content = pdf_bytes("Lesson plan for fractions")
    response = teacher.upload(submission["id"], "A1", "plan.pdf", content)
    assert response.status_code == 201
    stored = response.get_json()["file"]
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()
    assert stored["size"] == len(content)
    assert stored["media_type"] == "application/pdf"
    blob = (
        Path(seeded.config["STORAGE_PATH"])
        / stored["sha256"][:2]
        / stored["sha256"][2:4]
        / stored["sha256"]
    )
    assert blob.read_bytes() == content
    assert _files_under(Path(seeded.config["UPLOAD_STAGING_PATH"])) == []


def test_size_limit_hit_mid_stream_leaves_nothing(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    seeded.config["FILE_MAX_BYTES"] = 64 * 1024
    big = pdf_bytes() + b"%" + b"x" * (200 * 1024)
    response = teacher.upload(submission["id"], "A1", "big.pdf", big)
    assert response.status_code == 413
    assert "64.0 KiB" in response.get_json()["message"]

    # The resumable path: the declared size is checked up front…
    start = client.post(
        f"/api/v1/submissions/{submission['id']}/parts/A1/uploads",
        json={"filename": "big.pdf", "length": len(big)},
        headers=teacher.headers,
    )
    assert start.status_code == 413
    # …and the bytes while they stream, even when the client lied about the size.
    start = client.post(
        f"/api/v1/submissions/{submission['id']}/parts/A1/uploads",
        json={"filename": "big.pdf", "length": 1000},
        headers=teacher.headers,
    )
    upload_url = start.get_json()["upload_url"]
    patched = client.patch(
        upload_url,
        data=big,
        headers={
            **teacher.headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert patched.status_code == 413
    assert _files_under(Path(seeded.config["UPLOAD_STAGING_PATH"])) == []
    assert _files_under(Path(seeded.config["STORAGE_PATH"])) == []
    with seeded.app_context():
        assert db.session.query(StoredFile).count() == 0
        assert db.session.query(UploadSession).count() == 0
    assert teacher.get(submission["id"])["items"] == []


def test_renamed_executable_and_mismatched_names_are_refused(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
    response = teacher.upload(submission["id"], "A1", "plan.pdf", elf)
    assert response.status_code == 415
    body = response.get_json()
    assert "Programs and scripts are not accepted" in body["message"]
    assert "PDF" in body["message"]  # names what is accepted
    windows = teacher.upload(submission["id"], "A1", "plan.docx", b"MZ\x90\x00" + b"\x00" * 200)
    assert windows.status_code == 415
    mismatch = teacher.upload(submission["id"], "A1", "plan.docx", pdf_bytes())
    assert mismatch.status_code == 415
    assert "Rename it to end in .pdf" in mismatch.get_json()["message"]
    wrong_part = teacher.upload(submission["id"], "A1", "photo.png", png_bytes())
    assert wrong_part.status_code == 415
    assert "does not accept PNG image" in wrong_part.get_json()["message"]
    assert teacher.upload(submission["id"], "A1", "plan.docx", docx_bytes()).status_code == 201
    with seeded.app_context():
        assert db.session.query(StoredFile).count() == 1


def test_hostile_file_names_are_harmless(seeded: Flask, client: FlaskClient, signed_in) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    response = teacher.upload(
        submission["id"], "A1", "../../etc/pa\u202essw<b>d\x07\t.pdf", pdf_bytes()
    )
    assert response.status_code == 201
    name = response.get_json()["file"]["original_name"]
    assert "/" not in name and ".." not in name.split(".pdf")[0][:2]
    assert all(ch.isprintable() for ch in name) and "<" not in name
    assert not (Path(seeded.config["STORAGE_PATH"]).parent / "etc").exists()
    download = client.get(f"/api/v1/evidence-items/{response.get_json()['id']}/file")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "\r" not in download.headers["Content-Disposition"]


def test_resumed_upload_completes_with_the_right_hash(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    content = pdf_bytes() + b"%" + bytes(range(256)) * 2000
    start = client.post(
        f"/api/v1/submissions/{submission['id']}/parts/A3/uploads",
        json={"filename": "scaffolds.pdf", "length": len(content)},
        headers=teacher.headers,
    )
    assert start.status_code == 201
    url = start.get_json()["upload_url"]
    headers = {**teacher.headers, "Content-Type": "application/offset+octet-stream"}
    first = client.patch(url, data=content[:100_000], headers={**headers, "Upload-Offset": "0"})
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "100000"
    # The connection "drops"; the client re-sends from a stale offset and is told where to resume.
    stale = client.patch(url, data=content[50_000:], headers={**headers, "Upload-Offset": "50000"})
    assert stale.status_code == 409
    head = client.head(url, headers=teacher.headers)
    offset = int(head.headers["Upload-Offset"])
    assert offset == 100_000
    done = client.patch(
        url, data=content[offset:], headers={**headers, "Upload-Offset": str(offset)}
    )
    assert done.status_code == 201
    assert done.get_json()["file"]["sha256"] == hashlib.sha256(content).hexdigest()
    download = client.get(f"/api/v1/evidence-items/{done.get_json()['id']}/file")
    assert download.data == content
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_html_form_upload_and_the_page_shows_it(
    seeded: Flask, client: FlaskClient, signed_in
) -> None:
    signed_in(Role.TEACHER)
    teacher = TeacherSession(client)
    submission = teacher.start()
    page = client.get(f"/submissions/{submission['id']}").get_data(as_text=True)
    assert 'type="file"' in page and "Upload progress" in page
    response = client.post(
        f"/submissions/{submission['id']}/parts/A1/files",
        data={
            "file": (io.BytesIO(pdf_bytes()), "plan.pdf"),
            "csrf_token": teacher.headers["X-CSRFToken"],
            "lock_version": str(submission["lock_version"]),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "plan.pdf" in client.get(f"/submissions/{submission['id']}").get_data(as_text=True)
    bad = client.post(
        f"/submissions/{submission['id']}/parts/A1/files",
        data={
            "file": (io.BytesIO(b"MZ" + b"\0" * 99), "x.pdf"),
            "csrf_token": teacher.headers["X-CSRFToken"],
        },
        content_type="multipart/form-data",
    )
    assert bad.status_code == 415
    assert "Programs and scripts are not accepted" in bad.get_data(as_text=True)


def test_display_names_drop_paths_and_control_characters() -> None:
    from evidence.services import display_name

    assert display_name("C:\\Users\\x\\..\\plan.pdf") == "plan.pdf"
    assert display_name("../../etc/passwd\x00.pdf") == "passwd.pdf"
    assert display_name("a\r\nSet-Cookie: x.pdf") == "aSet-Cookie x.pdf"
    assert display_name("...") == "file"
    assert len(display_name("x" * 1000 + ".pdf")) == 200
