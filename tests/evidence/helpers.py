"""Building real files and submissions for the evidence tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import csrf_from


def pdf_bytes(text: str = "Task plan") -> bytes:
    body = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
        + f"4 0 obj<</Length {len(body)}>>stream\n".encode()
        + body
        + b"\nendstream endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bytes() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"\x00\xff\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def words(count: int) -> str:
    return " ".join(f"word{n}" for n in range(count))


class TeacherSession:
    """A signed-in teacher driving the JSON API with the session's CSRF token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.headers = {"X-CSRFToken": csrf_from(client, "/portfolio")}

    def start(self, code: str = "UDL-05") -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/submissions", json={"code": code}, headers=self.headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, submission_id: int) -> dict[str, Any]:
        return self.client.get(f"/api/v1/submissions/{submission_id}").get_json()

    def lock(self, submission_id: int) -> int:
        return self.get(submission_id)["lock_version"]

    def text(self, submission_id: int, part: str, text: str) -> Any:
        return self.client.post(
            f"/api/v1/submissions/{submission_id}/items/text",
            json={"part_key": part, "text": text, "lock_version": self.lock(submission_id)},
            headers=self.headers,
        )

    def link(self, submission_id: int, part: str, url: str) -> Any:
        return self.client.post(
            f"/api/v1/submissions/{submission_id}/items/link",
            json={"part_key": part, "url": url, "lock_version": self.lock(submission_id)},
            headers=self.headers,
        )

    def upload(self, submission_id: int, part: str, name: str, content: bytes, **meta: str) -> Any:
        return self.client.post(
            f"/api/v1/submissions/{submission_id}/parts/{part}/files",
            data={"file": (io.BytesIO(content), name), **meta},
            headers=self.headers,
            content_type="multipart/form-data",
        )

    def submit(self, submission_id: int) -> Any:
        return self.client.post(
            f"/api/v1/submissions/{submission_id}/submit",
            json={"privacy_attested": True, "lock_version": self.lock(submission_id)},
            headers=self.headers,
        )

    def complete(self, submission_id: int) -> None:
        """Fill every required part of UDL-05 with acceptable evidence."""
        assert (
            self.text(submission_id, "P1", "A grade 4 class of 26, " + words(40)).status_code == 201
        )
        assert self.text(submission_id, "P2", "Goal: explain " + words(30)).status_code == 201
        assert self.upload(submission_id, "A1", "plan.pdf", pdf_bytes()).status_code == 201
        for n in range(3):
            response = self.upload(
                submission_id,
                "A2",
                f"sample{n}.png",
                png_bytes() + bytes([n]),
                alt_text=f"Student sample {n}: a labelled diagram",
            )
            assert response.status_code == 201, response.get_json()
        assert self.link(submission_id, "A3", "https://example.org/scaffolds").status_code == 201
        assert self.text(submission_id, "R1", words(350)).status_code == 201
