"""The whole journey in a real browser, once with a mouse and once with the keyboard
only: a teacher signs up, finds a micro-credential and submits evidence; the two
demo reviewers score it; the worker decides and issues the badge; the teacher makes
it public, downloads the signed PDF and shares the transcript with the state; the
state verifier verifies the badge by id and by PDF, in bulk, and looks up the
transcript; the admin visits operations, calibration and revocation.

Every page reached is audited with axe-core (WCAG 2.2 AA) and must show no violation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, expect

from tests.e2e.conftest import Server
from tests.e2e.driver import DESKTOP, Auditor, Driver, Mode
from tests.evidence.helpers import pdf_bytes

pytestmark = pytest.mark.slow

WAIT_FOR_WORKER = 90  # seconds: pre-check, assignment, decision, PDF signing


@dataclass(frozen=True)
class Plan:
    """What the teacher submits: text, links and a file, per evidence part."""

    code: str
    search: str
    title: str
    texts: dict[str, int]  # part -> number of words
    links: dict[str, int]  # part -> number of links
    files: tuple[str, ...]  # parts that get the PDF


PLANS: dict[Mode, Plan] = {
    "mouse": Plan(
        code="UDL-01",
        search="firm goals",
        title="Firm Goals, Flexible Means",
        texts={"P1": 60, "P2": 40, "R1": 320},
        links={"A2": 2},
        files=("A1",),
    ),
    "keyboard": Plan(
        code="UDL-02",
        search="barrier audit",
        title="Barrier Audit of a Lesson",
        texts={"P1": 60, "P2": 40, "R1": 320},
        links={"A2": 1, "A3": 2},
        files=("A1",),
    ),
}


def words(count: int) -> str:
    sentence = "Students chose how to show what they learned against the same success criteria"
    vocabulary = sentence.split()
    return " ".join(vocabulary[n % len(vocabulary)] for n in range(count)) + "."


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT_FOR_WORKER) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def people(
    browser: Browser, server: Server, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Driver]]:
    """A new browser context (a person) per call, all closed at the end."""
    mode: Mode = request.node.callspec.params["mode"]
    # The mouse pass audits both colour schemes, checks reflow and takes the
    # screenshots; the keyboard pass reaches the same pages and audits them again
    # in the state the keyboard leaves them.
    if mode == "mouse":
        auditor = Auditor(screenshots, ("light", "dark"))
    else:
        auditor = Auditor(screenshots, ("light",), layout=False)
    contexts: list[BrowserContext] = []

    def person() -> Driver:
        context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
        context.set_default_timeout(15_000)
        auditor.prepare(context)
        contexts.append(context)
        return Driver(context.new_page(), server.base_url, mode, auditor)

    try:
        yield person
    finally:
        for context in contexts:
            context.close()


def part(driver: Driver, key: str) -> Locator:
    return driver.page.locator(f"#part-{key}")


@dataclass
class Educator:
    """The teacher the journey follows, and what they end up holding."""

    plan: Plan
    name: str
    email: str
    license_number: str
    badge_id: str = ""
    badge_url: str = ""
    certificate: Path | None = None

    @classmethod
    def new(cls, mode: Mode) -> Educator:
        tag = uuid.uuid4().hex[:6]
        return cls(
            plan=PLANS[mode],
            name=f"Jordan {mode.title()} Teacher",
            email=f"e2e-{mode}-{tag}@example.org",
            license_number=f"TN-E2E-{tag.upper()}",
        )


@pytest.mark.parametrize("mode", ["mouse", "keyboard"])
def test_full_journey(
    mode: Mode, people: Callable[[], Driver], server: Server, screenshots: Path, tmp_path: Path
) -> None:
    educator = Educator.new(mode)
    teacher = people()
    teacher_signs_up(teacher, educator)
    teacher_submits_evidence(teacher, educator.plan, tmp_path)
    for number, email in enumerate(("reviewer@example.org", "reviewer2@example.org"), 1):
        reviewer_scores(people(), server, email, educator.plan, number)
    teacher_collects_the_badge(teacher, educator, tmp_path)
    verifier_checks_the_badge(people(), server, educator, tmp_path)
    admin_visits_operations(people(), server, educator)

    auditor = teacher.auditor
    (screenshots / f"audited-{mode}.txt").write_text(
        "".join(f"audited {page}\n" for page in auditor.audited)
        + "".join(f"same as an audited page {page}\n" for page in auditor.skipped)
    )
    assert len(auditor.audited) >= 30, auditor.audited


def teacher_signs_up(teacher: Driver, educator: Educator) -> None:
    teacher.open("/", "landing page")
    if teacher.keyboard:
        teacher.page.keyboard.press("Tab")
        skip = teacher.page.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        teacher.page.keyboard.press("Enter")
        expect(teacher.page.locator("main")).to_be_focused()
    teacher.auditor.assert_reflows(teacher.page, "landing page")
    teacher.follow_nav("Create a teacher account")
    if not teacher.keyboard:
        teacher.press("Create account")  # empty: the error summary must be accessible too
        expect(teacher.page.get_by_role("alert")).to_contain_text("There is a problem")
        teacher.auditor.screenshot(teacher.page, "sign-up-errors")
        teacher.auditor.assert_reflows(teacher.page, "sign-up form with errors")
    teacher.fill_in("Full name", educator.name)
    teacher.fill_in("Email", educator.email)
    teacher.fill_in("Password", "a long and memorable sentence")
    teacher.fill_in("Confirm password", "a long and memorable sentence")
    teacher.fill_in("Educator license number (optional)", educator.license_number)
    teacher.choose(teacher.field("License state (optional)"), "TN")
    teacher.press("Create account")
    expect(teacher.page.get_by_role("heading", level=1)).to_have_text("My portfolio")


def teacher_submits_evidence(teacher: Driver, plan: Plan, tmp_path: Path) -> None:
    teacher.follow_nav("Catalog")
    teacher.auditor.screenshot(teacher.page, "catalog")
    teacher.auditor.assert_reflows(teacher.page, "catalog")
    teacher.fill_in("Search", plan.search)
    teacher.press("Show micro-credentials")
    teacher.follow(plan.title)
    teacher.auditor.assert_reflows(teacher.page, "micro-credential page")
    teacher.press("Start this micro-credential")
    expect(teacher.page.get_by_role("status").first).to_contain_text("started")

    pdf = tmp_path / "task-plan.pdf"
    pdf.write_bytes(pdf_bytes("Task plan with flexible means"))
    for key, count in plan.texts.items():
        teacher.fill(teacher.field("Write your response", part(teacher, key)), words(count))
        teacher.press(f"Save response for {key}", part(teacher, key))
    for key, count in plan.links.items():
        for n in range(count):
            url = f"https://example.org/{plan.code.lower()}/{key.lower()}-{n + 1}"
            teacher.fill(teacher.field("Link (https://…)", part(teacher, key)), url)
            teacher.press(f"Add link to {key}", part(teacher, key))
    for key in plan.files:
        teacher.attach(teacher.field("Upload a file", part(teacher, key)), pdf)
        # The page's script uploads the file in resumable chunks, then reloads.
        teacher.press_in_place(f"Upload to {key}", part(teacher, key))
        expect(part(teacher, key).get_by_role("link", name="task-plan.pdf")).to_be_visible()
        teacher.arrived("submission with an uploaded file")
    teacher.auditor.screenshot(teacher.page, "submission-draft")
    teacher.auditor.assert_reflows(teacher.page, "submission page")
    teacher.check(teacher.page.get_by_label("I have removed student names", exact=False))
    teacher.press("Submit")

    def with_reviewers() -> bool:
        teacher.reload(audit=False)
        return teacher.page.get_by_text("Complete and with the reviewers").is_visible()

    wait_until(with_reviewers, "the pre-check and the assignment of two reviewers")
    teacher.arrived("submission in review")


def reviewer_scores(reviewer: Driver, server: Server, email: str, plan: Plan, number: int) -> None:
    reviewer.open("/", "landing page")
    reviewer.sign_in(email, server.passwords[email])
    expect(reviewer.page.get_by_role("heading", level=1)).to_have_text("My review queue")
    if number == 1:
        reviewer.auditor.assert_reflows(reviewer.page, "review queue")
        reviewer.auditor.screenshot(reviewer.page, "home-reviewer")
    row = reviewer.page.get_by_role("row").filter(has_text=plan.code).filter(has_text="To score")
    reviewer.activate(row.get_by_role("link"))
    if number == 1:
        reviewer.auditor.screenshot(reviewer.page, "scoring")
        reviewer.auditor.assert_reflows(reviewer.page, "scoring page")
    score_every_criterion(reviewer, f"Reviewer {number}")
    reviewer.press("Submit scores")
    expect(reviewer.page.get_by_text("Your scores are locked")).to_be_visible()


def teacher_collects_the_badge(teacher: Driver, educator: Educator, tmp_path: Path) -> None:
    """The worker decides and issues; the teacher makes the badge public, downloads
    the signed PDF and shares the transcript with the state."""
    plan = educator.plan
    teacher.follow_nav("My portfolio")
    teacher.follow(plan.title, within=teacher.page.get_by_role("region", name="My submissions"))

    def earned() -> bool:
        teacher.reload(audit=False)
        return teacher.page.get_by_role("heading", name="Earned").is_visible()

    wait_until(earned, "the decision")
    teacher.arrived("decided submission")
    teacher.follow_nav("My portfolio")

    def badge_listed() -> bool:
        teacher.reload(audit=False)
        badges = teacher.page.get_by_role("region", name="My badges")
        return badges.get_by_role("link", name=plan.title).count() == 1

    wait_until(badge_listed, "the badge to be issued")
    teacher.arrived("portfolio with a badge")
    teacher.auditor.screenshot(teacher.page, "home-teacher")
    teacher.auditor.assert_reflows(teacher.page, "portfolio")
    teacher.follow(plan.title, within=teacher.page.get_by_role("region", name="My badges"))
    educator.badge_url = teacher.page.url
    educator.badge_id = teacher.page.locator("p.meta code").inner_text()
    assert educator.badge_url.endswith(f"/badges/{educator.badge_id}")
    expect(teacher.page.get_by_role("heading", name="✓ Valid")).to_be_visible()

    def pdf_ready() -> bool:
        teacher.reload(audit=False)
        return teacher.link("Signed certificate (PDF)").count() == 1

    wait_until(pdf_ready, "the signed PDF certificate")
    teacher.press("Make the details public")
    expect(teacher.button("Make the details private")).to_be_visible()
    teacher.auditor.screenshot(teacher.page, "badge")
    teacher.auditor.assert_reflows(teacher.page, "badge page")
    educator.certificate = teacher.download(
        teacher.link("Signed certificate (PDF)"), tmp_path / "certificate.pdf"
    )
    assert educator.certificate.read_bytes().startswith(b"%PDF")

    teacher.follow_nav("My portfolio")
    teacher.follow("My licensure transcript: share it with my state")
    teacher.press("Share with TN")
    expect(teacher.page.get_by_text("Shared with TN since")).to_be_visible()


def verifier_checks_the_badge(
    verifier: Driver, server: Server, educator: Educator, tmp_path: Path
) -> None:
    """By id, by the PDF, in bulk, and through the shared transcript."""
    assert educator.certificate is not None
    verifier.open("/", "landing page")
    verifier.sign_in("verifier@example.org", server.passwords["verifier@example.org"])
    expect(verifier.page.get_by_role("heading", level=1)).to_have_text("Verify a badge")
    verifier.auditor.screenshot(verifier.page, "home-verifier")
    verifier.auditor.assert_reflows(verifier.page, "verify page")
    verifier.fill_in("Badge id or verification address", "not a badge id")
    verifier.press("Verify")  # the error must be as accessible as the form
    expect(verifier.page.get_by_role("alert")).to_contain_text("There is a problem")
    verifier.fill_in("Badge id or verification address", educator.badge_id)
    verifier.press("Verify")
    expect(verifier.page.get_by_role("heading", name="✓ Valid")).to_be_visible()
    assert verifier.page.url == educator.badge_url

    verifier.follow_nav("Verify a badge")
    verifier.attach(
        verifier.field("Certificate (.pdf) or credential file (.json)"), educator.certificate
    )
    verifier.press("Verify the file")
    verdict = verifier.page.get_by_role("status").filter(has_text="What was checked")
    expect(verdict.get_by_role("heading", name="✓ Valid")).to_be_visible()
    expect(verdict.get_by_role("row", name="PDF signature")).to_contain_text("Passed")
    verifier.auditor.screenshot(verifier.page, "verified-pdf")

    verifier.follow_nav("Verify a badge")
    verifier.follow("Check many badges at once (CSV)")
    sheet = tmp_path / "badges.csv"
    sheet.write_text(
        f"badge,name,license_number\n{educator.badge_id},{educator.name},{educator.license_number}\n"
    )
    verifier.attach(verifier.field("CSV file"), sheet)
    verifier.press("Start the check")
    # The status page follows the job's progress and reloads itself when it is done.
    expect(verifier.link("Download the results (CSV)")).to_be_visible(
        timeout=WAIT_FOR_WORKER * 1000
    )
    verifier.arrived("bulk check results")
    valid = verifier.page.get_by_role("row").filter(
        has=verifier.page.get_by_role("rowheader", name="Valid", exact=True)
    )
    expect(valid.get_by_role("cell").first).to_have_text("1")
    verifier.auditor.screenshot(verifier.page, "bulk-results")
    verifier.auditor.assert_reflows(verifier.page, "bulk check results")

    verifier.follow_nav("Verify a badge")
    verifier.follow("Look up an educator's transcript")
    verifier.fill_in("Licence number", educator.license_number)
    verifier.press("Look up")
    expect(verifier.page.get_by_role("heading", level=1)).to_have_text("Licensure transcript")
    expect(verifier.page.get_by_role("main")).to_contain_text(educator.plan.title)
    verifier.auditor.screenshot(verifier.page, "verifier-transcript")
    verifier.auditor.assert_reflows(verifier.page, "transcript")


def admin_visits_operations(admin: Driver, server: Server, educator: Educator) -> None:
    """Operations dashboard, calibration, reliability, and the revocation form."""
    admin.open("/", "landing page")
    admin.sign_in("admin@example.org", server.passwords["admin@example.org"])
    expect(admin.page.get_by_role("heading", level=1)).to_have_text("Catalog and operations")
    admin.auditor.screenshot(admin.page, "home-admin")
    admin.follow("Review operations")
    admin.auditor.assert_reflows(admin.page, "review operations")
    admin.follow("Calibration")
    admin.follow("Scoring reliability report")
    # The address the educator shared, typed into the browser.
    admin.open(educator.badge_url.removeprefix(server.base_url), "badge page as admin")
    admin.open_disclosure("Revoke this badge")
    expect(admin.field("Reason (the educator is told)")).to_be_visible()
    admin.auditor.audit(admin.page, "revocation form")


def score_every_criterion(reviewer: Driver, who: str) -> None:
    """The top level and feedback for each criterion; save a draft, as reviewers do."""
    criteria = reviewer.page.locator("fieldset[id^='criterion-']")
    for index in range(criteria.count()):
        criterion = criteria.nth(index)
        levels = criterion.get_by_role("radio")
        top = levels.first  # listed from the highest level down
        if reviewer.keyboard:
            # The page's shortcut: a digit chooses a level, 1 being the lowest.
            reviewer.focus(levels.first)
            reviewer.page.keyboard.press(str(levels.count()))
        else:
            top.check()
        expect(top).to_be_checked()
        reviewer.fill(
            criterion.get_by_label("Feedback for the teacher", exact=False),
            f"{who}: the evidence for this criterion is specific and convincing.",
        )
    if reviewer.keyboard:
        with reviewer.page.expect_navigation():
            reviewer.page.keyboard.press("Control+s")  # the page's shortcut for "Save draft"
        reviewer.arrived("saved draft scores")
    else:
        reviewer.press("Save draft")
    expect(criteria.first.get_by_role("radio").first).to_be_checked()
