"""The render helper: a warm child process that lays out certificates while the
issuer signs; whatever happens to it, the caller still gets the same PDF."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from badges import render_helper
from badges.pdf import (
    CREDENTIAL_FILENAME,
    QR_SOURCE,
    TEMPLATES_DIR,
    certificate_environment,
    render_certificate_html,
    render_pdf,
    validate_pdf,
)
from tests.badges.test_pdf import (
    CREDENTIAL,
    EDUCATOR,
    VERIFY_URL,
    context,
    pdftotext,
    require_tool,
    run,
)

pytestmark = pytest.mark.skipif(not render_helper.supported(), reason="the helper needs Linux")

ATTACHMENTS = [(CREDENTIAL_FILENAME, CREDENTIAL, "Signed Open Badges 3.0 credential")]
PAGE = {"base_url": str(TEMPLATES_DIR), "title": "UDL certificate", "lang": "en"}


@pytest.fixture
def helper() -> Iterator[int]:
    render_helper.stop()
    pid = render_helper.ensure_running()
    assert pid is not None
    yield pid
    render_helper.stop()


@pytest.fixture
def no_helper() -> Iterator[None]:
    render_helper.stop()
    yield
    render_helper.stop()


def certificate_html(qr: str | None = None) -> str:
    overrides = {"qr_data_uri": qr} if qr else {}
    return render_certificate_html(certificate_environment(), context(**overrides))


def made(qr_url: str = VERIFY_URL) -> tuple[bytes, str | None]:
    with render_helper.begin(qr_url) as pending:
        pending.layout(certificate_html(QR_SOURCE), **PAGE)
        data = pending.finish(ATTACHMENTS)
    return data, pending.rendered_by


def counts() -> dict[str, int]:
    stats = render_helper.stats()
    assert stats is not None
    return {name: stats[name] for name in ("served", "failed", "dropped")}


def page_image(pdf: bytes, tmp_path: Path, name: str) -> bytes:
    tool = require_tool("pdftoppm", "poppler-utils")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    run(tool, "-r", "40", "-gray", str(path), str(tmp_path / name))
    return next(tmp_path.glob(f"{name}-*.pgm")).read_bytes()


def assert_is_the_certificate(pdf: bytes, tmp_path: Path) -> None:
    """The page a user sees, QR code included, is the one rendered in process from
    the HTML with the QR code inline; the credential is embedded as given."""
    reference = render_pdf(certificate_html(), attachments=ATTACHMENTS, **PAGE)
    assert page_image(pdf, tmp_path, "made") == page_image(reference, tmp_path, "reference")
    assert validate_pdf(pdf, trust_roots=[]).credential_json == CREDENTIAL
    assert EDUCATOR in pdftotext(pdf, tmp_path)


def test_the_helper_makes_the_certificate(helper: int, tmp_path: Path) -> None:
    pdf, rendered_by = made()
    assert rendered_by == "helper"
    assert counts() == {"served": 1, "failed": 0, "dropped": 0}
    assert_is_the_certificate(pdf, tmp_path)


def test_a_different_qr_url_gives_a_different_page(helper: int, tmp_path: Path) -> None:
    first, _ = made()
    other, _ = made(VERIFY_URL.replace("4f1c", "0000"))
    assert page_image(first, tmp_path, "first") != page_image(other, tmp_path, "other")


def test_without_a_helper_the_caller_renders_the_same_certificate(
    no_helper: None, tmp_path: Path
) -> None:
    pdf, rendered_by = made()
    assert rendered_by == "process"
    assert_is_the_certificate(pdf, tmp_path)


def test_a_killed_helper_costs_nothing_but_time_and_is_replaced(
    helper: int, tmp_path: Path
) -> None:
    with render_helper.begin(VERIFY_URL) as pending:
        pending.layout(certificate_html(QR_SOURCE), **PAGE)
        os.kill(helper, signal.SIGKILL)
        pdf = pending.finish(ATTACHMENTS)
    assert pending.rendered_by == "process"
    assert_is_the_certificate(pdf, tmp_path)
    replacement = render_helper.ensure_running()
    assert replacement is not None and replacement != helper
    assert made()[1] == "helper"


def test_an_abandoned_certificate_does_not_block_the_next(helper: int) -> None:
    with render_helper.begin(VERIFY_URL) as pending:
        pending.layout(certificate_html(QR_SOURCE), **PAGE)
    _, rendered_by = made()
    assert rendered_by == "helper"
    assert counts() == {"served": 1, "failed": 0, "dropped": 1}


def test_a_page_that_cannot_be_rendered_fails_in_the_caller_too(helper: int) -> None:
    with render_helper.begin(VERIFY_URL) as pending:
        pending.layout(certificate_html(QR_SOURCE), **{**PAGE, "title": " "})
        with pytest.raises(ValueError, match="title"):
            pending.finish(ATTACHMENTS)
    assert counts() == {"served": 0, "failed": 1, "dropped": 0}


def test_the_helper_ends_with_the_process_that_started_it() -> None:
    started = subprocess.run(
        [sys.executable, "-c", "from badges import render_helper as r; print(r.ensure_running())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    pid = int(started.stdout.strip())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.1)
    assert not _running(pid), f"render helper {pid} outlived its owner"


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_sigterm_ends_the_helper_and_the_worker_starts_another(helper: int) -> None:
    made()  # a certificate, then its garbage collected: SIGTERM must land whenever
    os.kill(helper, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(helper):
        time.sleep(0.1)
    assert not _running(helper), "the helper ignored SIGTERM"
    replacement = render_helper.ensure_running()
    assert replacement is not None and replacement != helper
    assert made()[1] == "helper"


def test_a_helper_first_drops_what_it_was_asked_to_forget(tmp_path: Path) -> None:
    """A worker's helper never signs: it drops the decrypted signing keys it inherits
    (badges registers certificates.forget_signers) before it serves anything."""
    marker = tmp_path / "forgotten"

    def forget() -> None:
        marker.write_text(str(os.getpid()))

    render_helper.stop()
    render_helper.forget_in_helper(forget)
    try:
        pid = render_helper.ensure_running()
        assert render_helper.stats() is not None  # it serves, so it ran the callbacks first
        assert marker.read_text() == str(pid) and pid != os.getpid()
    finally:
        render_helper._on_helper_start.remove(forget)
        render_helper.stop()
