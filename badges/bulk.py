"""Bulk verification: a licensure officer's CSV of badges, checked in the background.

A check's state lives in a Redis hash that expires after a week, not in the
database: it is the officer's working file, not a record of the service. The
uploaded CSV never travels through Redis: the request stores a normalised copy
(only the three columns, each row with its number in the officer's file) and
the job reads it from storage.

A badge is looked up by id in this service's own database. An address on
another host is a row error, never fetched: no request leaves the service.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import shutil
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from redis import Redis
from rq import get_current_job

from accounts.models import User
from accounts.policy import ensure_owner_or_admin
from badges import issuers
from badges.verification import Report, badge_id_from_url, verify_badge
from core.csvsafe import neutralise_formula
from core.db_types import utcnow
from core.errors import ConflictError, InvalidError, NotFoundError, ServiceError
from core.jobs import enqueue, job, redis_connection
from core.storage import (
    StagedFile,
    UploadTooLarge,
    get_storage,
    hash_file,
    new_staging_path,
    stage_stream,
    temporary_directory,
)

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
STATE_TTL = 7 * 24 * 3600
PROGRESS_EVERY = 25
JOB_TIMEOUT = 2 * 3600  # 5,000 full verifications, with room to spare
MAX_CELL = 500  # longer cells are cut: no badge id, name or licence number is this long
KEY_PREFIX = "microcred:bulk:"
FILES_KEY = f"{KEY_PREFIX}files"  # stored files to delete, scored by when they may go
FILE_GRACE = 3600  # files outlive their check's hash by this much, whatever the clocks say
INPUT_MARKER = "microcred-bulk-verification"
FILE_COLUMNS = ("badge", "name", "license_number")
RESULT_COLUMNS = (
    "row",
    "badge",
    "name",
    "license_number",
    "verdict",
    "reason",
    "rejection_codes",
    "credential_title",
    "code",
    "issued",
    "hours",
)

VALID, NOT_VALID, ERROR = "valid", "not valid", "error"
VERDICTS = (VALID, NOT_VALID, ERROR)
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BULK_ID = re.compile(r"[0-9a-f]{32}")
# A spreadsheet runs a cell that starts with one of these as a formula (the last
# four are the full-width forms, which some spreadsheets also accept).


class FileTooLarge(ServiceError):
    status, code = 413, "too_large"


# --- State in Redis -----------------------------------------------------------------


@dataclass(frozen=True)
class BulkState:
    id: str
    owner_id: int
    filename: str
    total: int
    done: int
    status: str
    created: datetime
    expires: datetime
    input_key: str
    result_key: str | None = None
    finished: datetime | None = None
    error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        if self.status == DONE:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "filename": self.filename,
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "counts": {verdict: self.counts.get(verdict, 0) for verdict in VERDICTS},
            "rejection_codes": self.codes,
            "created": self.created,
            "finished": self.finished,
            "expires": self.expires,
            "error": self.error,
        }


def _redis() -> Redis:
    return redis_connection()


def _key(bulk_id: str) -> str:
    return f"{KEY_PREFIX}{bulk_id}"


def _user_key(user_id: int) -> str:
    return f"{KEY_PREFIX}user:{user_id}"


def _time(value: str) -> datetime:
    return datetime.fromtimestamp(float(value), UTC)


def _load(bulk_id: str) -> BulkState | None:
    if not _BULK_ID.fullmatch(bulk_id):
        return None
    raw = {k.decode(): v.decode() for k, v in _redis().hgetall(_key(bulk_id)).items()}
    if not raw:
        return None
    return BulkState(
        id=bulk_id,
        owner_id=int(raw["owner"]),
        filename=raw.get("filename", ""),
        total=int(raw["total"]),
        done=int(raw.get("done", 0)),
        status=raw["status"],
        created=_time(raw["created"]),
        expires=_time(raw["expires"]),
        input_key=raw["input_key"],
        result_key=raw.get("result_key") or None,
        finished=_time(raw["finished"]) if raw.get("finished") else None,
        error=raw.get("error") or None,
        counts=json.loads(raw.get("counts") or "{}"),
        codes=json.loads(raw.get("codes") or "{}"),
    )


def _save(bulk_id: str, expire_at: datetime, /, **fields: Any) -> None:
    """Write fields and keep the original expiry (a write must not make the hash immortal)."""
    pipe = _redis().pipeline()
    pipe.hset(_key(bulk_id), mapping={k: str(v) for k, v in fields.items()})
    pipe.expireat(_key(bulk_id), int(expire_at.timestamp()))
    pipe.execute()


def _forget_file_later(key: str, when: datetime) -> None:
    # Two checks of the same file can share a result file: the later expiry wins.
    _redis().zadd(FILES_KEY, {key: when.timestamp()}, gt=True)


def get_state(bulk_id: str, user: User) -> BulkState:
    """The owner's (or an admin's) check; anyone else learns nothing, not even that it exists."""
    state = _load(bulk_id)
    if state is None:
        raise NotFoundError("No such bulk check. Results are kept for 7 days.")
    ensure_owner_or_admin(user, state.owner_id)
    return state


def recent_for(user: User) -> list[BulkState]:
    store = _redis()
    store.zremrangebyscore(_user_key(user.id), "-inf", utcnow().timestamp() - STATE_TTL)
    ids = [raw.decode() for raw in store.zrevrange(_user_key(user.id), 0, 19)]
    return [state for state in map(_load, ids) if state is not None]


def result_key(state: BulkState) -> str:
    if state.status != DONE or state.result_key is None:
        raise ConflictError(
            "The results are not ready yet; they can be downloaded when the check is done."
        )
    if not get_storage().exists(state.result_key):
        raise NotFoundError("The results were deleted. Upload the file again to check it anew.")
    return state.result_key


def too_large_message() -> str:
    return (
        f"The file is larger than {MAX_BYTES // (1024 * 1024)} MiB, the limit for one check. "
        "Split it into smaller files."
    )


# --- Upload ---------------------------------------------------------------------------


def _column_name(cell: str) -> str:
    return re.sub(r"[\s-]+", "_", cell.strip().lower())


def _delimiter(first_line: str) -> str:
    """Comma, or the semicolon or tab some spreadsheet locales write instead."""
    if "," not in first_line:
        for candidate in (";", "\t"):
            if candidate in first_line:
                return candidate
    return ","


def _read_upload(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(row number in the file, [badge, name, license_number])``; the header is row 1."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        delimiter = _delimiter(handle.readline())
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        if not header or not any(cell.strip() for cell in header):
            raise InvalidError(
                "The file is empty. The first row must name the columns: "
                "badge, name, license_number.",
                {"file": ["The file is empty."]},
            )
        names = [_column_name(cell) for cell in header]
        if "badge" not in names:
            found = ", ".join(cell.strip()[:40] for cell in header[:10] if cell.strip())
            message = (
                "The file has no “badge” column. The first row must name the columns "
                f"badge, name and license_number (it names: {found or 'nothing'})."
            )
            raise InvalidError(message, {"file": [message]})
        positions = [names.index(name) if name in names else None for name in FILE_COLUMNS]
        for number, cells in enumerate(reader, start=2):
            yield (
                number,
                [
                    cells[i].strip()[:MAX_CELL] if i is not None and i < len(cells) else ""
                    for i in positions
                ],
            )


def _normalise(raw: Path, bulk_id: str) -> tuple[StagedFile, int]:
    """Write the rows the job needs to a staging file; return it and the row count.

    The first record names this check, so the stored file is this check's alone
    and can be deleted once the check is done.
    """
    target = new_staging_path()
    rows = 0
    try:
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([INPUT_MARKER, bulk_id])
            for number, cells in _read_upload(raw):
                rows += 1
                if rows > MAX_ROWS:
                    message = (
                        f"The file has more than {MAX_ROWS:,} rows, the limit for one check. "
                        "Split it into smaller files."
                    )
                    raise InvalidError(message, {"file": [message]})
                writer.writerow([number, *cells])
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        message = "The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”."
        raise InvalidError(message, {"file": [message]}) from exc
    except csv.Error as exc:
        target.unlink(missing_ok=True)
        message = f"The file cannot be read as CSV ({exc}). Save it from your spreadsheet as CSV."
        raise InvalidError(message, {"file": [message]}) from exc
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if rows == 0:
        target.unlink(missing_ok=True)
        message = "The file has a header row but no badges to check."
        raise InvalidError(message, {"file": [message]})
    return StagedFile(path=target, sha256=hash_file(target), size=target.stat().st_size), rows


def start_bulk_verification(user: User, stream: BinaryIO | None, filename: str) -> BulkState:
    """Validate and store the CSV, record the check in Redis and ask for the job.

    The job is written to the outbox; the caller commits.
    """
    if stream is None or not filename:
        message = "Choose a CSV file with a “badge” column."
        raise InvalidError(message, {"file": [message]})
    try:
        raw = stage_stream(stream, limit=MAX_BYTES)
    except UploadTooLarge as exc:
        raise FileTooLarge(too_large_message(), {"file": [too_large_message()]}) from exc
    bulk_id = uuid.uuid4().hex
    try:
        normalised, rows = _normalise(raw.path, bulk_id)
    finally:
        raw.path.unlink(missing_ok=True)
    input_key = get_storage().put(normalised)
    created = utcnow()
    expires = datetime.fromtimestamp(created.timestamp() + STATE_TTL, UTC)
    _forget_file_later(input_key, expires)
    _save(
        bulk_id,
        expires,
        owner=user.id,
        filename=filename[:200],
        total=rows,
        done=0,
        status=QUEUED,
        created=created.timestamp(),
        expires=expires.timestamp(),
        input_key=input_key,
    )
    pipe = _redis().pipeline()
    pipe.zadd(_user_key(user.id), {bulk_id: created.timestamp()})
    pipe.expire(_user_key(user.id), STATE_TTL)
    pipe.execute()
    enqueue(
        "badges.bulk.run_bulk_verification",
        bulk_id,
        user.id,
        job_id=f"bulk-verification-{bulk_id}",
        job_timeout=JOB_TIMEOUT,
    )
    state = _load(bulk_id)
    assert state is not None
    return state


# --- Checking rows --------------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    verdict: str
    reason: str
    codes: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


def neutralise(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return neutralise_formula("" if value is None else str(value))


def badge_id_from(text: str) -> str | None:
    """The badge id in an id or a verification address of this service, else None."""
    lowered = text.strip().lower()
    if _UUID.fullmatch(lowered):
        return lowered
    try:
        return badge_id_from_url(lowered)
    except InvalidError:
        return None


def _same(given: str, on_badge: Any, *, spaces: str) -> bool:
    """Equal but for letter case and white space (collapsed to ``spaces``)."""

    def normal(value: str) -> str:
        return spaces.join(unicodedata.normalize("NFKC", value).split()).casefold()

    return isinstance(on_badge, str) and normal(given) == normal(on_badge)


@dataclass
class CheckContext:
    """What one check remembers across rows: each badge's report, and where it was first seen."""

    reports: dict[str, Report | None] = field(default_factory=dict)
    first_row: dict[str, str] = field(default_factory=dict)

    def verify(self, badge_id: str) -> Report | None:
        """Verify a badge once per check, however many rows name it; None if there is none."""
        if badge_id not in self.reports:
            try:
                self.reports[badge_id] = verify_badge(badge_id)
            except NotFoundError:
                self.reports[badge_id] = None
        return self.reports[badge_id]


def check_row(number: str, cells: list[str], context: CheckContext) -> RowResult:
    badge_text, name, license_number = cells
    if not any(cells):
        return RowResult(ERROR, "The row is empty.")
    if not badge_text:
        return RowResult(ERROR, "The row has no badge id or verification address.")
    badge_id = badge_id_from(badge_text)
    if badge_id is None:
        return RowResult(
            ERROR,
            "Not a badge of this service: give the badge id (8-4-4-4-12 letters and digits) "
            "or its verification address on this site. Badges of other issuers are "
            "verified with those issuers.",
        )
    report = context.verify(badge_id)
    if report is None:
        return RowResult(
            NOT_VALID,
            "No badge of this service has this id. Check it against the certificate.",
            ("INSUFFICIENT_DOCUMENTATION",),
        )
    reasons = [check.reason for check in report.checks if not check.passed]
    codes = [check.code for check in report.checks if not check.passed and check.code]
    facts = report.facts
    if name and not _same(name, facts.get("name"), spaces=" "):
        reasons.append(f"The name on the badge is “{facts.get('name') or 'missing'}”.")
        codes.append("NAME_MISMATCH")
    if license_number:
        if not facts.get("license_number"):
            reasons.append("The badge carries no license number to compare.")
            codes.append("INSUFFICIENT_DOCUMENTATION")
        elif not _same(license_number, facts.get("license_number"), spaces=""):
            reasons.append("The license number on the badge is different.")
            codes.append("LICENSE_NUMBER_MISMATCH")
    first = context.first_row.setdefault(badge_id, number)
    if first != number:
        reasons.append(f"The same badge is already on row {first}; count it once.")
        codes.append("DUPLICATE")
    if reasons:
        return RowResult(NOT_VALID, " ".join(reasons), tuple(dict.fromkeys(codes)), facts)
    unchecked = [
        label for label, given in (("name", name), ("license number", license_number)) if not given
    ]
    note = f" Not compared (empty in the file): {', '.join(unchecked)}." if unchecked else ""
    return RowResult(VALID, report.verdict + note, (), facts)


def _result_row(number: str, cells: list[str], result: RowResult) -> list[str]:
    facts = result.facts
    hours = facts.get("hours")
    return [
        neutralise(value)
        for value in (
            number,
            *cells,
            result.verdict,
            result.reason,
            " ".join(result.codes),
            facts.get("achievement") or "",
            facts.get("code") or "",
            (facts.get("issued") or "")[:10],
            f"{hours:g}" if isinstance(hours, int | float) else "",
        )
    ]


def _input_rows(handle: io.TextIOBase, bulk_id: str) -> Iterator[list[str]]:
    reader = csv.reader(handle)
    if next(reader, None) != [INPUT_MARKER, bulk_id]:
        raise RuntimeError(f"the stored input of bulk check {bulk_id} belongs to another check")
    yield from reader


def _check_file(state: BulkState, workdir: Path) -> tuple[StagedFile, Counter[str], Counter[str]]:
    local_input = workdir / "input.csv"
    with closing(get_storage().open(state.input_key)) as source, local_input.open("wb") as copy:
        shutil.copyfileobj(source, copy)
    output = workdir / "result.csv"
    verdicts: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    context = CheckContext()
    done = 0
    # utf-8-sig: spreadsheets then read names with accents correctly.
    with (
        local_input.open(encoding="utf-8", newline="") as handle,
        output.open("w", encoding="utf-8-sig", newline="") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(RESULT_COLUMNS)
        for number, *cells in _input_rows(handle, state.id):
            result = check_row(number, cells, context)
            writer.writerow(_result_row(number, cells, result))
            verdicts[result.verdict] += 1
            codes.update(result.codes)
            done += 1
            if done % PROGRESS_EVERY == 0:
                _save(state.id, state.expires, done=done)
    return (
        StagedFile(path=output, sha256=hash_file(output), size=output.stat().st_size),
        verdicts,
        codes,
    )


@job
def run_bulk_verification(bulk_id: str, user_id: int) -> str | None:
    """Check every row and store the result CSV; a second run of a finished check does nothing."""
    state = _load(bulk_id)
    if state is None:
        log.warning("bulk check %s expired before it ran", bulk_id)
        return None
    if state.owner_id != user_id:
        raise RuntimeError(f"bulk check {bulk_id} does not belong to user {user_id}")
    if state.status == DONE:
        return state.result_key
    _save(bulk_id, state.expires, status=RUNNING, done=0, error="")
    try:
        with temporary_directory() as workdir:
            staged, verdicts, codes = _check_file(state, Path(workdir))
            key = get_storage().put(staged)
    except Exception:
        current = get_current_job()
        if current is None or not current.retries_left:
            _save(
                bulk_id,
                state.expires,
                status=FAILED,
                error="The check stopped because of an error on our side. "
                "Upload the file again; if it fails again, contact support.",
            )
        raise
    _forget_file_later(key, state.expires)
    _save(
        bulk_id,
        state.expires,
        status=DONE,
        done=state.total,
        result_key=key,
        finished=utcnow().timestamp(),
        counts=json.dumps(dict(verdicts)),
        codes=json.dumps(dict(codes.most_common())),
    )
    get_storage().delete(state.input_key)  # the officer's file is needed no longer
    _redis().zrem(FILES_KEY, state.input_key)
    return key


@job
def delete_expired_files() -> int:
    """Periodic: delete the stored inputs and results of checks older than a week."""
    store = _redis()
    storage = get_storage()
    cutoff = utcnow().timestamp() - FILE_GRACE
    expired = [raw.decode() for raw in store.zrangebyscore(FILES_KEY, "-inf", cutoff)]
    for key in expired:
        storage.delete(key)
        store.zrem(FILES_KEY, key)
    return len(expired)


def example_csv() -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [
            FILE_COLUMNS,
            ("3f2b9c4e-8a1d-4e6f-9b2a-7c5d1e0f4a3b", "Maria Lopez", "TN-104233"),
            (
                f"{issuers.public_base_url()}/badges/7a1e5d2c-4b3f-4c8e-a9d0-2f6b8e1c5d47",
                "Sam Carter",
                "",
            ),
        ]
    )
    return buffer.getvalue()
