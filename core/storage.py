"""Content-addressed file storage: a local folder or S3-compatible object storage.

Uploads are streamed into a staging file while they are hashed and counted, so
nothing is ever held whole in memory and an oversized upload stops (and is
removed) the moment it passes the limit. The finished file is then stored under
its SHA-256, which is also its key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

from flask import Flask, Response, current_app

from core.faults import fault_point

CHUNK_SIZE = 1024 * 1024


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


@dataclass(frozen=True)
class StagedFile:
    path: Path
    sha256: str
    size: int


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class Storage(Protocol):
    def put(self, staged: StagedFile) -> str: ...
    def open(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def staging_dir(app: Flask | None = None) -> Path:
    app = app or current_app
    path = Path(app.config["UPLOAD_STAGING_PATH"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_staging_path() -> Path:
    return staging_dir() / f"{uuid.uuid4().hex}.part"


def append_stream(
    path: Path, stream: BinaryIO, *, limit: int, expected: int | None = None
) -> tuple[int, str | None]:
    """Append ``stream`` to ``path`` in chunks; refuse past ``limit`` bytes in total.

    Returns the new size, and the SHA-256 when this call wrote the file from its
    first byte (so a one-request upload is hashed while it streams, not re-read).
    On refusal the bytes written by this call are cut off again (a resumable
    upload keeps what it had), and UploadTooLarge is raised.
    """
    start = path.stat().st_size if path.exists() else 0
    digest = hashlib.sha256() if start == 0 else None
    written = start
    with path.open("ab") as handle:
        try:
            while chunk := stream.read(CHUNK_SIZE):
                written += len(chunk)
                if written > limit or (expected is not None and written > expected):
                    raise UploadTooLarge(limit if written > limit else expected or limit)
                if digest is not None:
                    digest.update(chunk)
                handle.write(chunk)
                fault_point("storage.write")
        except BaseException:
            handle.truncate(start)
            raise
    return written, digest.hexdigest() if digest is not None else None


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def stage_stream(stream: BinaryIO, *, limit: int) -> StagedFile:
    """Stream a whole upload into staging while hashing it (one pass, one write)."""
    path = new_staging_path()
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("wb") as handle:
            while chunk := stream.read(CHUNK_SIZE):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(limit)
                digest.update(chunk)
                handle.write(chunk)
                fault_point("storage.write")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StagedFile(path=path, sha256=digest.hexdigest(), size=size)


class LocalStorage:
    """Files under ``root/ab/cd/<sha256>``; staging lives on the same disk, so
    storing a finished upload is a rename, not a copy."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(ch not in "0123456789abcdef" for ch in key):
            raise ValueError("storage keys are SHA-256 hex digests")
        return self.root / key[:2] / key[2:4] / key

    def put(self, staged: StagedFile) -> str:
        target = self._path(staged.sha256)
        if target.exists():
            staged.path.unlink(missing_ok=True)
        else:
            fault_point("storage.put")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staged.path, target)
            except OSError:  # staging on another filesystem
                shutil.move(str(staged.path), target)
        return staged.sha256

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """S3-compatible object storage (AWS, MinIO, Ceph…) through boto3."""

    def __init__(
        self, bucket: str, endpoint_url: str | None = None, prefix: str = "blobs/"
    ) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client("s3", endpoint_url=endpoint_url or None)

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, staged: StagedFile) -> str:
        if not self.exists(staged.sha256):
            fault_point("storage.put")
            # upload_file streams from disk in multipart chunks.
            self.client.upload_file(str(staged.path), self.bucket, self._key(staged.sha256))
        staged.path.unlink(missing_ok=True)
        return staged.sha256

    def open(self, key: str) -> BinaryIO:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def get_storage(app: Flask | None = None) -> Storage:
    """The configured backend (one instance per app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    storage = app.extensions.get("microcred_storage")
    if storage is None:
        if app.config["STORAGE_BACKEND"] == "s3":
            storage = S3Storage(app.config["S3_BUCKET"], app.config["S3_ENDPOINT_URL"] or None)
        else:
            storage = LocalStorage(Path(app.config["STORAGE_PATH"]))
        app.extensions["microcred_storage"] = storage
    return storage


def iter_file(handle: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Stream a stored file to the client, closing it at the end."""
    try:
        while chunk := handle.read(chunk_size):
            yield chunk
    finally:
        handle.close()


def temporary_directory() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(dir=staging_dir())


def attachment_response(key: str, media_type: str, name: str, size: int | None = None) -> Response:
    """Stream a stored file as a download called ``name``, never rendered inline."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    response = Response(
        iter_file(get_storage().open(key)), mimetype=media_type, direct_passthrough=True
    )
    if size is not None:
        response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
