"""Submissions and evidence: the only code that changes them."""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nh3
from flask import current_app
from sqlalchemy import func, select

from accounts.models import User
from core import audit
from core.db_types import utcnow
from core.errors import ConflictError, InvalidError, NotFoundError, ServiceError
from core.extensions import db
from core.i18n import N_, _l
from core.jobs import enqueue, import_dotted
from core.storage import (
    StagedFile,
    UploadTooLarge,
    append_stream,
    get_storage,
    hash_file,
    human_size,
    new_staging_path,
    staging_dir,
)
from credentials import services as catalog
from credentials.models import EvidencePart
from evidence.access import can_view
from evidence.filetypes import FileTypeError, allowed_labels, sniff
from evidence.models import (
    EDITABLE,
    OPEN,
    EvidenceItem,
    ItemKind,
    StoredFile,
    Submission,
    SubmissionStatus,
    UploadSession,
)

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "blockquote",
    "code",
    "pre",
}
DECIDED = (SubmissionStatus.PASSED, SubmissionStatus.NOT_YET)
_WORDS = re.compile(r"[\w'\u2019-]+", re.UNICODE)


class UnsupportedFileType(ServiceError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status, code = 413, "payload_too_large"


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        _l(
            "The file is larger than the limit of %(limit)s. Nothing was kept; "
            "make it smaller (for example, compress or trim a video) and upload it again.",
            limit=human_size(limit),
        )
    )


# --- Text ------------------------------------------------------------------------


def sanitize_html(text: str) -> str:
    """Keep simple formatting, drop everything else (scripts, styles, events)."""
    if "<" not in text:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
        text = "".join("<p>" + nh3.clean_text(p).replace("\n", "<br>") + "</p>" for p in paragraphs)
        return nh3.clean(text, tags=ALLOWED_TAGS)
    return nh3.clean(
        text,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def count_words(html: str) -> int:
    return len(_WORDS.findall(nh3.clean(html.replace("<", " <"), tags=set())))


# --- Finding -------------------------------------------------------------------------


def get_submission(user: User, submission_id: int) -> Submission:
    """The submission if ``user`` may see it; 404 otherwise (existence is not revealed)."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or not can_view(user, submission):
        raise NotFoundError("No such submission.")
    return submission


def get_own_submission(user: User, submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    if submission is None or submission.teacher_id != user.id:
        raise NotFoundError("No such submission.")
    return submission


def submissions_of(user: User) -> list[Submission]:
    return list(
        db.session.scalars(
            select(Submission)
            .where(Submission.teacher_id == user.id)
            .order_by(Submission.updated_at.desc(), Submission.id.desc())
        )
    )


def earned_codes(user: User) -> set[str]:
    return set(
        db.session.scalars(
            select(Submission.credential_code).where(
                Submission.teacher_id == user.id, Submission.status == SubmissionStatus.PASSED
            )
        )
    )


def attempts_used(user: User, code: str) -> int:
    """Attempts that reached a decision count against the limit."""
    return (
        db.session.scalar(
            select(func.count(Submission.id)).where(
                Submission.teacher_id == user.id,
                Submission.credential_code == code,
                Submission.status.in_(DECIDED),
            )
        )
        or 0
    )


def extra_attempts(user: User, code: str) -> int:
    """Extra attempts granted by admins (the reviews domain registers the source)."""
    source = current_app.extensions.get("microcred_extra_attempts")
    return source(user, code) if source else 0


def _part(submission: Submission, part_key: str) -> EvidencePart:
    for part in submission.credential.evidence_parts:
        if part.key == part_key:
            return part
    raise NotFoundError(f"{submission.credential_code} has no evidence part {part_key}.")


def _editable(submission: Submission, lock_version: int | None) -> None:
    if submission.status not in EDITABLE:
        raise ConflictError(
            _l(
                "This submission cannot be changed now (status: %(status)s).",
                status=_l(submission.status_label),
            )
        )
    if lock_version is not None and lock_version != submission.lock_version:
        raise ConflictError(
            N_(
                "This submission was changed somewhere else (another tab or device) since you "
                "opened it. Reload to see the latest version; nothing was overwritten."
            )
        )


def _touch(submission: Submission) -> None:
    """Bump the lock version (a change to any item is a change to the submission)."""
    submission.updated_at = utcnow()


# --- Starting, withdrawing, deleting -------------------------------------------------


def start_submission(user: User, code: str) -> Submission:
    credential = catalog.current_credential(code)
    open_one = db.session.scalar(
        select(Submission).where(
            Submission.teacher_id == user.id,
            Submission.credential_code == code,
            Submission.status.in_(OPEN),
        )
    )
    if open_one is not None:
        raise ConflictError(
            _l(
                "You already have attempt %(n)d of %(code)s open. Continue it instead.",
                n=open_one.attempt,
                code=code,
            ),
            {"submission_id": [str(open_one.id)]},
        )
    if code in earned_codes(user):
        raise ConflictError(_l("You have already earned %(code)s.", code=code))
    missing = [p for p in credential.prerequisites if p not in earned_codes(user)]
    if missing:
        raise InvalidError(
            _l("Earn %(codes)s before starting %(code)s.", codes=", ".join(missing), code=code),
            {"prerequisites": missing},
        )
    used = attempts_used(user, code)
    if used >= credential.max_attempts + extra_attempts(user, code):
        raise InvalidError(
            _l(
                "All %(n)d attempts at %(code)s are used. An administrator can grant another attempt.",
                n=credential.max_attempts,
                code=code,
            ),
            {"attempts": [f"{used} of {credential.max_attempts} used"]},
        )
    previous = db.session.scalar(
        select(Submission)
        .where(Submission.teacher_id == user.id, Submission.credential_code == code)
        .order_by(Submission.attempt.desc())
        .limit(1)
    )
    submission = Submission(
        teacher_id=user.id,
        credential=credential,
        credential_code=code,
        attempt=(previous.attempt + 1) if previous else 1,
        previous_id=previous.id
        if previous and previous.status == SubmissionStatus.NOT_YET
        else None,
        status=SubmissionStatus.DRAFT,
    )
    db.session.add(submission)
    if submission.previous_id is not None:
        _carry_forward(previous, submission)
    db.session.flush()
    audit.record(
        "submission.started",
        "submission",
        submission.id,
        actor_id=user.id,
        after={"code": code, "version": credential.version, "attempt": submission.attempt},
    )
    return submission


def _carry_forward(previous: Submission, submission: Submission) -> None:
    """A new attempt starts from the evidence of the last one, to be edited."""
    parts = {part.key for part in submission.credential.evidence_parts}
    for item in previous.items:
        if item.part_key in parts:
            submission.items.append(
                EvidenceItem(
                    part_key=item.part_key,
                    kind=item.kind,
                    position=item.position,
                    title=item.title,
                    text_html=item.text_html,
                    word_count=item.word_count,
                    url=item.url,
                    file_id=item.file_id,
                    alt_text=item.alt_text,
                    transcript=item.transcript,
                )
            )


def _move(
    submission: Submission, status: SubmissionStatus, action: str, actor_id: int | None
) -> None:
    """Change the state and record it in the audit log, with the state before."""
    before = submission.status
    submission.status = status
    audit.record(
        action,
        "submission",
        submission.id,
        actor_id=actor_id,
        before={"status": before},
        after={"status": str(status)},
    )


def withdraw(user: User, submission: Submission) -> Submission:
    if submission.status not in (*EDITABLE, SubmissionStatus.SUBMITTED):
        raise ConflictError(N_("Review has started; the submission can no longer be withdrawn."))
    _move(submission, SubmissionStatus.WITHDRAWN, "submission.withdrawn", user.id)
    return submission


def delete_draft(user: User, submission: Submission) -> None:
    if submission.status != SubmissionStatus.DRAFT:
        raise ConflictError(N_("Only drafts can be deleted; withdraw a submitted one instead."))
    audit.record(
        "submission.deleted",
        "submission",
        submission.id,
        actor_id=user.id,
        before={"code": submission.credential_code, "attempt": submission.attempt},
    )
    file_ids = [item.file_id for item in submission.items if item.file_id]
    db.session.delete(submission)
    db.session.flush()
    forget_unused_files(file_ids)


def forget_unused_files(file_ids: Iterable[int]) -> None:
    """Delete stored files (and their blobs) that no evidence refers to any more."""
    storage = get_storage()
    for file_id in set(file_ids):
        if db.session.scalar(
            select(EvidenceItem.id).where(EvidenceItem.file_id == file_id).limit(1)
        ):
            continue
        stored = db.session.get(StoredFile, file_id)
        if stored is None:
            continue
        sha = stored.sha256
        db.session.delete(stored)
        db.session.flush()
        if not db.session.scalar(select(StoredFile.id).where(StoredFile.sha256 == sha).limit(1)):
            storage.delete(sha)


# --- Evidence ---------------------------------------------------------------------------


def _check_accepts(part: EvidencePart, kind: str, label: str) -> None:
    if kind not in part.accepted:
        raise UnsupportedFileType(
            f"Part {part.key} does not accept {label}. It accepts: {', '.join(part.accepted)}."
        )


def _next_position(submission: Submission, part_key: str) -> int:
    return len(submission.items_for(part_key)) + 1


def add_text(user: User, submission: Submission, data: dict[str, Any]) -> EvidenceItem:
    _editable(submission, data["lock_version"])
    part = _part(submission, data["part_key"])
    _check_accepts(part, "text", "written responses")
    html = sanitize_html(data["text"])
    item = EvidenceItem(
        part_key=part.key,
        kind=ItemKind.TEXT,
        position=_next_position(submission, part.key),
        title=data.get("title"),
        text_html=html,
        word_count=count_words(html),
    )
    submission.items.append(item)
    _touch(submission)
    db.session.flush()
    audit.record(
        "evidence.added",
        "submission",
        submission.id,
        actor_id=user.id,
        after={"part": part.key, "kind": "text", "words": item.word_count},
    )
    return item


def add_link(user: User, submission: Submission, data: dict[str, Any]) -> EvidenceItem:
    _editable(submission, data["lock_version"])
    part = _part(submission, data["part_key"])
    _check_accepts(part, "link", "links")
    item = EvidenceItem(
        part_key=part.key,
        kind=ItemKind.LINK,
        position=_next_position(submission, part.key),
        title=data.get("title"),
        url=data["url"],
        transcript=data.get("transcript"),
    )
    submission.items.append(item)
    _touch(submission)
    db.session.flush()
    audit.record(
        "evidence.added",
        "submission",
        submission.id,
        actor_id=user.id,
        after={"part": part.key, "kind": "link"},
    )
    return item


def display_name(name: str) -> str:
    """A file name safe to show: no path, no control characters, bounded length."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip(" .") or "file"
    return name[-200:]


def _scan_for_viruses(path: Path) -> None:
    hook = current_app.config.get("VIRUS_SCAN_HOOK")
    if hook:
        import_dotted(hook)(path)  # raises to refuse the file


def add_file(
    user: User,
    submission: Submission,
    part_key: str,
    staged: StagedFile,
    filename: str,
    *,
    alt_text: str | None = None,
    transcript: str | None = None,
    lock_version: int | None = None,
) -> EvidenceItem:
    """Check a fully staged upload and store it; the staged file is always consumed."""
    try:
        _editable(submission, lock_version)
        part = _part(submission, part_key)
        name = display_name(filename)
        try:
            file_type = sniff(staged.path, name)
        except FileTypeError as exc:
            raise UnsupportedFileType(
                _l(
                    "%(problem)s Accepted here: %(kinds)s.",
                    problem=str(exc),
                    kinds=allowed_labels(list(part.accepted)) or "—",
                )
            ) from exc
        _check_accepts(part, file_type.kind, file_type.label)
        _scan_for_viruses(staged.path)
        key = get_storage().put(staged)
    finally:
        staged.path.unlink(missing_ok=True)
    stored = StoredFile(
        owner_id=submission.teacher_id,
        sha256=key,
        size=staged.size,
        media_type=file_type.media_type,
        kind=file_type.kind,
        original_name=name,
    )
    item = EvidenceItem(
        part_key=part.key,
        kind=ItemKind.FILE,
        position=_next_position(submission, part.key),
        title=name,
        file=stored,
        alt_text=alt_text or None,
        transcript=transcript or None,
    )
    submission.items.append(item)
    _touch(submission)
    db.session.flush()
    audit.record(
        "evidence.added",
        "submission",
        submission.id,
        actor_id=user.id,
        after={"part": part.key, "kind": file_type.kind, "sha256": key, "size": staged.size},
    )
    return item


def update_accessibility(
    user: User, submission: Submission, item_id: int, data: dict[str, Any]
) -> EvidenceItem:
    _editable(submission, data["lock_version"])
    item = next((i for i in submission.items if i.id == item_id), None)
    if item is None:
        raise NotFoundError("No such evidence item.")
    item.alt_text = data.get("alt_text") or None
    item.transcript = data.get("transcript") or None
    _touch(submission)
    db.session.flush()
    return item


def remove_item(user: User, submission: Submission, item_id: int, lock_version: int | None) -> None:
    _editable(submission, lock_version)
    item = next((i for i in submission.items if i.id == item_id), None)
    if item is None:
        raise NotFoundError("No such evidence item.")
    file_id = item.file_id
    submission.items.remove(item)
    _touch(submission)
    db.session.flush()
    audit.record(
        "evidence.removed",
        "submission",
        submission.id,
        actor_id=user.id,
        before={"part": item.part_key, "kind": item.kind},
    )
    if file_id:
        forget_unused_files([file_id])


# --- Resumable uploads ------------------------------------------------------------------


def start_upload(
    user: User, submission: Submission, part_key: str, data: dict[str, Any]
) -> UploadSession:
    _editable(submission, data.get("lock_version"))
    _part(submission, part_key)
    limit = current_app.config["FILE_MAX_BYTES"]
    if data["length"] > limit:
        raise too_large(limit)
    upload = UploadSession(
        id=str(uuid.uuid4()),
        owner_id=user.id,
        submission_id=submission.id,
        part_key=part_key,
        filename=display_name(data["filename"]),
        length=data["length"],
        offset=0,
        staging_name=f"{uuid.uuid4().hex}.part",
        alt_text=data.get("alt_text"),
        transcript=data.get("transcript"),
    )
    db.session.add(upload)
    db.session.flush()
    return upload


def get_upload(user: User, upload_id: str) -> UploadSession:
    upload = db.session.get(UploadSession, upload_id)
    if upload is None or upload.owner_id != user.id:
        raise NotFoundError("No such upload.")
    return upload


def _upload_path(upload: UploadSession) -> Path:
    return staging_dir() / upload.staging_name


def append_upload(
    user: User, upload: UploadSession, offset: int, stream: Any
) -> EvidenceItem | None:
    """Append bytes at ``offset``; when the last byte arrives, store the file.

    Returns the evidence item once complete, else None. A mismatched offset is a
    409 (the client asks HEAD for the right one and resumes from there).
    """
    if upload.completed_item_id is not None:
        raise ConflictError("This upload is already complete.")
    path = _upload_path(upload)
    on_disk = path.stat().st_size if path.exists() else 0
    if offset != on_disk:
        raise ConflictError(
            f"Resume from byte {on_disk}, not {offset}.", {"offset": [str(on_disk)]}
        )
    limit = current_app.config["FILE_MAX_BYTES"]
    try:
        upload.offset, digest = append_stream(path, stream, limit=limit, expected=upload.length)
    except UploadTooLarge as exc:
        path.unlink(missing_ok=True)
        db.session.delete(upload)
        db.session.flush()
        raise too_large(min(limit, exc.limit)) from exc
    if upload.offset < upload.length:
        db.session.flush()
        return None
    submission = get_own_submission(user, upload.submission_id)
    staged = StagedFile(path=path, sha256=digest or hash_file(path), size=upload.offset)
    try:
        item = add_file(
            user,
            submission,
            upload.part_key,
            staged,
            upload.filename,
            alt_text=upload.alt_text,
            transcript=upload.transcript,
        )
    except ServiceError:
        db.session.delete(upload)  # the bytes are gone; a new upload starts over
        db.session.flush()
        raise
    upload.completed_item_id = item.id
    db.session.flush()
    return item


def cancel_upload(upload: UploadSession) -> None:
    _upload_path(upload).unlink(missing_ok=True)
    db.session.delete(upload)
    db.session.flush()


# --- Submitting and the pre-check ----------------------------------------------------------


def submit(user: User, submission: Submission, data: dict[str, Any]) -> Submission:
    _editable(submission, data["lock_version"])
    if not data["privacy_attested"]:
        raise InvalidError(
            N_("Confirm that student identifying information is removed or that you have consent."),
            {"privacy_attested": [N_("Tick the box to confirm.")]},
        )
    if submission.credential.status != "published":
        raise ConflictError(
            _l("%(code)s is retired; it takes no new submissions.", code=submission.credential_code)
        )
    _move(submission, SubmissionStatus.SUBMITTED, "submission.submitted", user.id)
    submission.privacy_attested_at = utcnow()
    submission.submitted_at = utcnow()
    submission.precheck_problems = []
    enqueue(
        "evidence.jobs.precheck_submission",
        submission.id,
        job_id=f"precheck-{submission.id}-{submission.lock_version + 1}",
    )
    return submission


UNREADABLE = N_("%(label)s: “%(name)s” cannot be read; upload it again.")


def _problem(part_key: str, text: str, **values: Any) -> dict[str, Any]:
    """One pre-check problem: the English sentence for the API and the record, plus its
    message id and values so a page can show it in the reader's language."""
    return {"part": part_key, "message": text % values, "text": text, "params": values}


def precheck_problems(submission: Submission) -> list[dict[str, Any]]:
    """Everything that stops a submission from going to reviewers."""
    problems: list[dict[str, Any]] = []
    storage = get_storage()
    for part in submission.credential.evidence_parts:
        items = submission.items_for(part.key)
        if part.required and len(items) < part.min_count:
            label = f"{part.key} {part.title}"
            if part.min_count == 1:
                problems.append(
                    _problem(part.key, N_("%(label)s: add some evidence."), label=label)
                )
            else:
                problems.append(
                    _problem(
                        part.key,
                        N_("%(label)s: add at least %(n)d items."),
                        label=label,
                        n=part.min_count,
                    )
                )
        for item in items:
            label = f"{part.key} {part.title}"
            if item.kind == ItemKind.TEXT and item.word_count is not None:
                if part.max_words and item.word_count > part.max_words:
                    problems.append(
                        _problem(
                            part.key,
                            N_("%(label)s: %(count)d words; the limit is %(limit)d."),
                            label=label,
                            count=item.word_count,
                            limit=part.max_words,
                        )
                    )
                if part.min_words and item.word_count < part.min_words:
                    problems.append(
                        _problem(
                            part.key,
                            N_("%(label)s: %(count)d words; write at least %(limit)d."),
                            label=label,
                            count=item.word_count,
                            limit=part.min_words,
                        )
                    )
            if item.kind == ItemKind.FILE and item.file is not None:
                problems.extend(_file_problems(storage, label, part.key, item))
    return problems


def _file_problems(
    storage: Any, label: str, part_key: str, item: EvidenceItem
) -> list[dict[str, Any]]:
    stored = item.file
    assert stored is not None
    name = stored.original_name
    if not storage.exists(stored.sha256):
        return [_problem(part_key, UNREADABLE, label=label, name=name)]
    problems = []
    check = new_staging_path()
    try:
        with storage.open(stored.sha256) as source, check.open("wb") as target:
            target.write(source.read(8192))
        if sniff(check, name).media_type != stored.media_type:
            problems.append(
                _problem(
                    part_key,
                    N_("%(label)s: “%(name)s” is not the type it was when uploaded."),
                    label=label,
                    name=name,
                )
            )
    except (FileTypeError, OSError):
        problems.append(_problem(part_key, UNREADABLE, label=label, name=name))
    finally:
        check.unlink(missing_ok=True)
    if stored.kind == "image" and not (item.alt_text or "").strip():
        problems.append(
            _problem(
                part_key,
                N_(
                    "%(label)s: describe the image “%(name)s” (alt text) for reviewers who use a "
                    "screen reader."
                ),
                label=label,
                name=name,
            )
        )
    if stored.kind in ("audio", "video") and not (item.transcript or "").strip():
        problems.append(
            _problem(
                part_key,
                N_("%(label)s: add a transcript or captions for “%(name)s”."),
                label=label,
                name=name,
            )
        )
    return problems


def run_precheck(submission_id: int) -> Submission | None:
    """The pre-check job's work: complete → in review; otherwise back to the teacher."""
    submission = db.session.get(Submission, submission_id, with_for_update={"of": Submission})
    if submission is None or submission.status != SubmissionStatus.SUBMITTED:
        return submission  # already checked (the job ran twice) or withdrawn
    problems = precheck_problems(submission)
    submission.precheck_problems = problems
    submission.status = SubmissionStatus.INCOMPLETE if problems else SubmissionStatus.IN_REVIEW
    audit.record(
        "submission.prechecked",
        "submission",
        submission.id,
        before={"status": SubmissionStatus.SUBMITTED},
        after={"status": submission.status, "problems": len(problems)},
    )
    return submission


# --- Privacy ---------------------------------------------------------------------------------


def export_user_data(user: User, target: Path) -> Path:
    """Everything we hold for a teacher, as a zip: a JSON summary plus the files."""
    from evidence.schemas import SubmissionSchema

    storage = get_storage()
    summary = {
        "account": {
            "name": user.name,
            "email": user.email,
            "license_number": user.license_number,
            "license_state": user.license_state,
            "created_at": user.created_at.isoformat(),
        },
        "submissions": SubmissionSchema(many=True).dump(submissions_of(user)),
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("microcred-export.json", json.dumps(summary, indent=2, default=str))
        seen: set[str] = set()
        for submission in submissions_of(user):
            for item in submission.items:
                if item.file is None or item.file.sha256 in seen:
                    continue
                seen.add(item.file.sha256)
                arcname = f"files/{submission.credential_code}-attempt{submission.attempt}/{item.part_key}-{item.id}-{item.file.original_name}"
                with storage.open(item.file.sha256) as source, archive.open(arcname, "w") as sink:
                    while chunk := source.read(1024 * 1024):
                        sink.write(chunk)
    return target
