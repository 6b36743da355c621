"""``microcred doctor`` check for evidence: every stored file's blob is in storage,
byte for byte (its SHA-256 is its key)."""

from __future__ import annotations

import hashlib

from flask import Flask
from sqlalchemy import select

from core.doctor import stale_cutoff
from core.extensions import db
from core.jobs import enqueue
from core.registry import DoctorCheck, register_doctor_check, register_stored_file_column
from core.storage import CHUNK_SIZE, Storage, get_storage
from evidence.models import StoredFile, Submission, SubmissionStatus


def blob_problem(storage: Storage, key: str) -> str | None:
    """Why the blob under ``key`` is unusable, or None when it is intact."""
    if not storage.exists(key):
        return "is missing from storage"
    digest = hashlib.sha256()
    with storage.open(key) as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    if digest.hexdigest() != key:
        return "is in storage but its contents do not match its SHA-256 (corrupted)"
    return None


def _blobs() -> list[str]:
    storage = get_storage()
    problems = []
    checked: dict[str, str | None] = {}
    for stored in db.session.scalars(select(StoredFile).order_by(StoredFile.id)):
        if stored.sha256 not in checked:
            checked[stored.sha256] = blob_problem(storage, stored.sha256)
        problem = checked[stored.sha256]
        if problem:
            problems.append(
                f"evidence file {stored.id} ({stored.original_name}, {stored.sha256[:12]}…) "
                f"{problem}"
            )
    return problems


def _unchecked() -> list[int]:
    return list(
        db.session.scalars(
            select(Submission.id).where(
                Submission.status == SubmissionStatus.SUBMITTED,
                Submission.submitted_at < stale_cutoff(),
            )
        )
    )


def _prechecks() -> list[str]:
    return [f"attempt {sid} was submitted but never pre-checked" for sid in _unchecked()]


def _precheck_again() -> list[str]:
    waiting = _unchecked()
    for submission_id in waiting:
        enqueue("evidence.jobs.precheck_submission", submission_id)
    return [f"enqueued the pre-check of attempt {sid}" for sid in waiting]


def register(app: Flask) -> None:
    """Doctor checks, and the files a backup must carry."""
    register_stored_file_column(app, "stored_files", "sha256")
    register_doctor_check(
        app,
        DoctorCheck(
            "prechecks",
            "no submitted attempt waits for its completeness pre-check past the stale limit",
            _prechecks,
            _precheck_again,
        ),
    )
    register_doctor_check(
        app,
        DoctorCheck(
            "evidence-files",
            "every evidence file the database refers to is in storage with its SHA-256",
            _blobs,
        ),
    )
