"""A warm helper process that lays out certificate PDFs while the issuer signs.

Issuing a badge has two long steps that do not need each other until the end:
laying out the certificate (WeasyPrint) and making the credential (Data Integrity
proof, VC-JWT, database rows). Both are CPU-bound Python, so in one process the
GIL runs them one after the other. A long-lived process (an RQ worker, a
benchmark) therefore keeps one helper: a child forked at start, which lays out
pages while the caller signs, and writes the PDF once the caller sends the signed
credential to embed. Its pages are its own once warm, so it renders as fast as
the worker would (a process forked per certificate pays ~40 ms of copy-on-write
faults, more than the overlap saves).

The helper is an optimisation, never a dependency: without one, or if it dies,
times out or fails, :class:`PendingPdf` renders in the calling process, with the
same code (:func:`badges.pdf.render_pdf`).

The QR code is made first, from the badge's URL alone, while the caller is still
reading the database for the rest of the page: choosing its mask is the slowest
part of the page's HTML.

Protocol: one Unix-socket connection per certificate, in a directory only this
user can open; every message is a 4-byte big-endian length and a payload.

* caller: JSON ``{"qr": url}``; the helper makes the QR code for ``url``;
* caller: JSON ``{"html", "base_url", "title", "lang"}``, the HTML showing the QR
  code as ``<img src>`` :data:`badges.pdf.QR_SOURCE`; the helper lays out;
* caller: JSON list of ``{"name", "description", "content"}`` (base64);
* helper: ``ok`` and the PDF, or ``error`` and a message.

The caller may close the connection at any point to abandon the certificate.

``{"op": "stats"}`` instead of a certificate answers ``ok`` and JSON counters.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from badges import pdf

log = logging.getLogger(__name__)

#: Seconds a caller waits for the helper, and the helper for a caller, before giving up.
TIMEOUT = 120.0
#: Certificates one helper lays out before it retires (its owner starts a fresh one).
MAX_RENDERS = 2000
_LENGTH = struct.Struct(">I")
_MAX_FRAME = 64 * 1024 * 1024


@dataclass(frozen=True)
class _Helper:
    pid: int
    directory: str
    address: str
    owner: int  # the process that forked it: the only one that can reap it


_helper: _Helper | None = None
_on_helper_start: list[Callable[[], None]] = []


def forget_in_helper(callback: Callable[[], None]) -> None:
    """Have every helper started from now on call ``callback`` first, to drop what it
    inherited from its owner and has no use for (a worker's decrypted signing keys)."""
    if callback not in _on_helper_start:
        _on_helper_start.append(callback)


def supported() -> bool:
    """Forking a warm copy of the process is safe and cheap on Linux only."""
    return sys.platform == "linux" and hasattr(os, "fork")


def ensure_running() -> int | None:
    """Start the helper if this process has none alive; return its pid.

    Call it from long-lived processes, before work that issues badges (an RQ
    worker calls it at start and before each job, so a helper that died or
    retired is replaced). A process forked from the owner (an RQ work horse)
    uses the owner's helper and never starts one.
    """
    global _helper
    if not supported():
        return None
    if _helper is not None:
        if _helper.owner != os.getpid():
            return _helper.pid
        if _alive(_helper):
            return _helper.pid
        shutil.rmtree(_helper.directory, ignore_errors=True)
        _helper = None
    _helper = _start()
    return _helper.pid


def stop() -> None:
    """Stop this process's helper (tests; a worker's helper ends with the worker)."""
    global _helper
    helper, _helper = _helper, None
    if helper is None or helper.owner != os.getpid():
        return
    try:
        os.kill(helper.pid, signal.SIGKILL)  # it holds nothing worth a graceful end
        os.waitpid(helper.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    shutil.rmtree(helper.directory, ignore_errors=True)


def stats() -> dict[str, int] | None:
    """The helper's counters, or None without a helper: certificates ``served``,
    ``failed`` (an error answered; the caller rendered it itself), ``dropped``
    (the caller went away) and ``busy_ms`` (time spent laying out and writing
    the certificates served)."""
    if _helper is None:
        return None
    try:
        with _connect(_helper) as conn:
            _send(conn, json.dumps({"op": "stats"}).encode())
            reply = _receive(conn)
    except OSError:
        return None
    return json.loads(reply[2:]) if reply.startswith(b"ok") else None


def _alive(helper: _Helper) -> bool:
    try:
        pid, _ = os.waitpid(helper.pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return pid == 0


def _start() -> _Helper:
    directory = tempfile.mkdtemp(prefix="microcred-render-")  # mode 0700
    address = os.path.join(directory, "socket")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(8)
    owner = os.getpid()
    pid = os.fork()
    if pid == 0:  # the helper: never returns into the caller's code
        status = 1
        try:
            for callback in _on_helper_start:
                callback()
            _serve(listener, owner)
            status = 0
        except BaseException:
            log.exception("render helper stopped")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
            os._exit(status)
    listener.close()
    log.info("render helper %d started", pid)
    return _Helper(pid=pid, directory=directory, address=address, owner=owner)


def _serve(listener: socket.socket, owner: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker; we follow it
    signal.signal(signal.SIGTERM, _stop_on_signal)  # ends the loop; the directory is removed
    # Everything inherited from the worker lives as long as the helper: keep the
    # garbage collector to what the helper itself allocates (and off the copied pages),
    # and run it between certificates, while the helper waits, not during a layout.
    gc.freeze()
    gc.disable()
    listener.settimeout(1.0)
    counters = {"served": 0, "failed": 0, "dropped": 0, "busy_ms": 0}
    while not _stopping and os.getppid() == owner and counters["served"] < MAX_RENDERS:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                _serve_one(conn, counters)
            except Exception as exc:  # the caller went away or sent garbage
                counters["dropped"] += 1
                log.info("render helper dropped a request: %s", exc)
        gc.collect()


_stopping = False


def _stop_on_signal(_signum: int, _frame: object) -> None:
    # A flag, not an exception: an exception raised by a signal handler is lost if
    # the signal lands while a finalizer runs (during garbage collection).
    global _stopping
    _stopping = True


def _serve_one(conn: socket.socket, counters: dict[str, int]) -> None:
    opening = json.loads(_receive(conn))
    if opening.get("op") == "stats":
        _send(conn, b"ok" + json.dumps(counters).encode())
        return
    try:
        resources = _resources(opening["qr"])
        request = json.loads(_receive(conn))
        started = time.perf_counter()
        document = pdf.layout_pdf(
            request["html"],
            base_url=request["base_url"],
            title=request["title"],
            lang=request["lang"],
            resources=resources,
        )
        busy = time.perf_counter() - started
        attachments = [
            (item["name"], base64.b64decode(item["content"]), item["description"])
            for item in json.loads(_receive(conn))
        ]
        started = time.perf_counter()
        data = pdf.write_pdf(document, attachments)
        busy += time.perf_counter() - started
    except OSError:
        raise  # the caller went away: nobody to answer
    except Exception as exc:
        counters["failed"] += 1
        _send(conn, b"error" + f"{type(exc).__name__}: {exc}".encode())
        return
    counters["served"] += 1
    counters["busy_ms"] += round(busy * 1000)
    _send(conn, b"ok" + data)


def _resources(qr_url: str) -> dict[str, str]:
    return {pdf.QR_SOURCE: pdf.qr_data_uri(qr_url)}


class PendingPdf:
    """A certificate on its way: made by the helper when this process has one, else
    rendered here when :meth:`finish` is called.

    1. ``PendingPdf(qr_url)``: the QR code for the badge's URL is started;
    2. :meth:`layout` with the page's HTML (its QR image at :data:`badges.pdf.QR_SOURCE`);
    3. :meth:`finish` with the files to embed returns the PDF.

    The helper makes one certificate at a time: finish or close one before
    beginning another in the same process, or the second waits for the first.
    """

    def __init__(self, qr_url: str, *, use_helper: bool = True) -> None:
        self._qr_url = qr_url
        self._request: dict[str, str] | None = None
        self._conn: socket.socket | None = None
        #: "helper" or "process": who rendered the PDF (set by :meth:`finish`).
        self.rendered_by: str | None = None
        if _helper is None or not use_helper:
            return
        try:
            self._conn = _connect(_helper)
            _send(self._conn, json.dumps({"qr": qr_url}).encode())
        except OSError as exc:
            log.warning("render helper unavailable (%s); rendering in process", exc)
            self.close()

    def layout(self, html: str, *, base_url: str, title: str, lang: str) -> None:
        """Hand over the page (see :func:`badges.pdf.layout_pdf` for the arguments)."""
        self._request = {"html": html, "base_url": base_url, "title": title, "lang": lang}
        if self._conn is not None:
            try:
                _send(self._conn, json.dumps(self._request).encode())
            except OSError as exc:
                log.warning("render helper lost (%s); rendering in process", exc)
                self.close()

    def finish(self, attachments: Sequence[pdf.AttachmentSpec] = ()) -> bytes:
        if self._request is None:
            raise RuntimeError("layout() comes before finish()")
        if self._conn is not None:
            try:
                _send(self._conn, _encode_attachments(attachments))
                reply = _receive(self._conn)
                if reply.startswith(b"ok"):
                    self.rendered_by = "helper"
                    return reply[2:]
                log.warning("render helper failed (%s); rendering in process", reply[5:].decode())
            except (OSError, ValueError) as exc:
                log.warning("render helper lost (%s); rendering in process", exc)
            finally:
                self.close()
        self.rendered_by = "process"
        return pdf.render_pdf(
            self._request["html"],
            base_url=self._request["base_url"],
            title=self._request["title"],
            lang=self._request["lang"],
            attachments=attachments,
            resources=_resources(self._qr_url),
        )

    def close(self) -> None:
        """Abandon the helper's work (the helper sees the connection close)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> PendingPdf:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def begin(qr_url: str, *, use_helper: bool = True) -> PendingPdf:
    """Start a certificate whose QR code links to ``qr_url`` (see :class:`PendingPdf`);
    with ``use_helper`` false it is rendered in this process whatever runs."""
    return PendingPdf(qr_url, use_helper=use_helper)


def _connect(helper: _Helper) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(TIMEOUT)
    try:
        conn.connect(helper.address)
    except OSError:
        conn.close()
        raise
    return conn


def _encode_attachments(attachments: Sequence[pdf.AttachmentSpec]) -> bytes:
    items: list[dict[str, Any]] = [
        {"name": name, "description": description, "content": base64.b64encode(content).decode()}
        for name, content, description in attachments
    ]
    return json.dumps(items).encode()


def _send(conn: socket.socket, payload: bytes) -> None:
    conn.sendall(_LENGTH.pack(len(payload)) + payload)


def _receive(conn: socket.socket) -> bytes:
    (length,) = _LENGTH.unpack(_receive_exactly(conn, _LENGTH.size))
    if length > _MAX_FRAME:
        raise ValueError(f"a {length}-byte message is too large")
    return _receive_exactly(conn, length)


def _receive_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
