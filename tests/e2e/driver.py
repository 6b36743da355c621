"""Driving pages the way a person does, with a mouse or with the keyboard only,
and auditing every page reached with axe-core.

``Driver`` finds controls by their role and accessible name, as assistive
technology does. Its keyboard mode never clicks: it reaches each control by
pressing Tab (failing if it cannot), and uses Enter, Space and typing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import BrowserContext, Locator, Page

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
COLOUR_OPTIONS = {
    "runOnly": {"type": "rule", "values": ["color-contrast", "link-in-text-block"]},
    "resultTypes": ["violations"],
}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
REFLOW = {"width": 320, "height": 640}  # WCAG 1.4.10: 1280 px at 400% zoom
# More than any page here has focusable elements: a control not reached after
# this many presses of Tab is not reachable by keyboard.
MAX_TABS = 250
# Long answers are entered as one text input event, as a paste or an input
# method does; typing them key by key adds seconds and tests nothing more.
TYPE_KEYS_UP_TO = 80


# What a page is made of, for telling a new page state from a repeated one: each
# element's tag, classes, role, type, ARIA attributes and whether it is shown.
SHAPES_SCRIPT = """() => [...new Set([...document.querySelectorAll('body *')].map(e =>
    [e.tagName, e.className, e.getAttribute('role'), e.getAttribute('type'),
     [...e.attributes].filter(a => a.name.startsWith('aria-')).map(a => a.name).join(),
     e.checkVisibility ? e.checkVisibility() : true].join('|')))]"""


def _page_key(url: str) -> str:
    """The page's path with ids replaced, so two submissions count as one page."""
    path = urlsplit(url).path
    return re.sub(r"/[0-9a-f-]{8,}|/\d+", "/<id>", path)


def _violation_report(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"- {violation['id']} ({violation['impact']}): {violation['help']} {violation['helpUrl']}"
        )
        for node in violation["nodes"][:5]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {', '.join(map(str, node['target']))}: {summary}")
            lines.append(f"      {node['html'][:200]}")
    return "\n".join(lines)


class Auditor:
    """Runs axe on every page a journey reaches; takes the screenshots."""

    def __init__(
        self, screenshots: Path, color_schemes: tuple[str, ...] = ("light",), *, layout: bool = True
    ) -> None:
        self.screenshots = screenshots
        self.color_schemes = color_schemes
        # Screenshots and the reflow check depend on the page, not on the input
        # device: one pass of the journey is enough for them.
        self.layout = layout
        self.audited: list[str] = []
        self.skipped: list[str] = []
        self._seen: dict[str, set[str]] = {}

    def prepare(self, context: BrowserContext) -> None:
        """Load axe-core (as bundled by axe-playwright-python) into every page."""
        context.add_init_script(script=AXE_SCRIPT)

    def audit(self, page: Page, label: str) -> None:
        """Audit the page unless the same page, with nothing on it that was not
        there before, passed already (a form posted twice shows the same page)."""
        page_key = _page_key(page.url)
        shapes = set(page.evaluate(SHAPES_SCRIPT))
        if shapes <= self._seen.get(page_key, set()):
            self.skipped.append(f"{label} {page.url}")
            return
        for scheme in self.color_schemes:
            page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
            # All of WCAG 2.2 AA in the light scheme; in the dark one, what colours change.
            options = AXE_OPTIONS if scheme == "light" else COLOUR_OPTIONS
            violations = page.evaluate("options => axe.run(document, options)", options)[
                "violations"
            ]
            assert not violations, (
                f"axe found {len(violations)} WCAG 2.2 AA violation(s) on {label} "
                f"({page.url}, {scheme} colours):\n{_violation_report(violations)}"
            )
        page.emulate_media(color_scheme="light")
        self._seen.setdefault(page_key, set()).update(shapes)
        self.audited.append(f"{label} {page.url}")

    def assert_reflows(self, page: Page, label: str) -> None:
        """At 320 CSS px the page needs no horizontal scrolling (data tables may
        scroll inside their own box)."""
        if not self.layout:
            return
        page.set_viewport_size(REFLOW)
        try:
            overflow = page.evaluate(
                """() => {
                    const width = document.documentElement.clientWidth;
                    const wide = [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > width + 1)
                        .filter(e => !e.closest('.table-scroll'))
                        .slice(0, 5)
                        .map(e => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`);
                    return {scroll: document.documentElement.scrollWidth, width, wide};
                }"""
            )
        finally:
            page.set_viewport_size(DESKTOP)
        assert overflow["scroll"] <= overflow["width"], (
            f"{label} ({page.url}) scrolls sideways at 320 px: content is "
            f"{overflow['scroll']} px wide; widest elements: {overflow['wide']}"
        )

    def screenshot(self, page: Page, name: str, *, phone: bool = True) -> None:
        if not self.layout:
            return
        desktop = self.screenshots / f"{name}-desktop.png"
        page.screenshot(path=desktop, full_page=True)
        if phone:
            page.set_viewport_size(PHONE)
            try:
                page.screenshot(path=self.screenshots / f"{name}-phone.png", full_page=True)
            finally:
                page.set_viewport_size(DESKTOP)


Mode = Literal["mouse", "keyboard"]


class Driver:
    """One person in one browser context, using a mouse or only the keyboard."""

    def __init__(self, page: Page, base_url: str, mode: Mode, auditor: Auditor) -> None:
        self.page = page
        self.base_url = base_url
        self.mode = mode
        self.auditor = auditor

    @property
    def keyboard(self) -> bool:
        return self.mode == "keyboard"

    # --- finding things ---------------------------------------------------------

    def _scope(self, within: Locator | None) -> Page | Locator:
        return within if within is not None else self.page

    def link(self, name: str | re.Pattern[str], within: Locator | None = None) -> Locator:
        return self._scope(within).get_by_role("link", name=name, exact=True)

    def button(self, name: str | re.Pattern[str], within: Locator | None = None) -> Locator:
        return self._scope(within).get_by_role("button", name=name, exact=True)

    def field(self, label: str | re.Pattern[str], within: Locator | None = None) -> Locator:
        return self._scope(within).get_by_label(label, exact=True)

    def heading(self) -> str:
        return self.page.get_by_role("heading", level=1).inner_text()

    # --- the keyboard -------------------------------------------------------------

    def focus(self, target: Locator) -> None:
        """Press Tab until ``target`` has the focus, and check that it shows it."""
        handle = target.element_handle(timeout=5000)
        for _ in range(MAX_TABS):
            self.page.keyboard.press("Tab")
            state = handle.evaluate(
                """e => {
                    if (e !== document.activeElement) return null;
                    const style = getComputedStyle(e);
                    return {outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
                            shadow: style.boxShadow !== 'none'};
                }"""
            )
            if state is not None:
                assert state["outline"] or state["shadow"], (
                    f"{target} has the keyboard focus on {self.page.url} but no visible focus indicator"
                )
                return
        raise AssertionError(
            f"{target} cannot be reached with the Tab key on {self.page.url} ({MAX_TABS} presses)"
        )

    def _type(self, text: str) -> None:
        if len(text) <= TYPE_KEYS_UP_TO:
            self.page.keyboard.type(text)
        else:
            self.page.keyboard.insert_text(text)

    # --- actions ------------------------------------------------------------------

    @contextmanager
    def _arrive(self, label: str | None) -> Iterator[None]:
        """Wait for the navigation the action starts, then audit the page reached."""
        with self.page.expect_navigation():
            yield
        self.arrived(label)

    def arrived(self, label: str | None = None) -> None:
        self.page.wait_for_load_state("load")
        self.auditor.audit(self.page, label or self.heading())

    def open(self, path: str, label: str | None = None) -> None:
        """Type an address into the browser (the same for both modes)."""
        self.page.goto(self.base_url + path)
        self.arrived(label)

    def reload(self, label: str | None = None, *, audit: bool = True) -> None:
        # The browser's F5; headless Chromium has no browser shortcuts of its own.
        self.page.reload()
        if audit:
            self.arrived(label)

    def _enter(self, target: Locator) -> None:
        if self.keyboard:
            self.focus(target)
            self.page.keyboard.press("Enter")
        else:
            target.click()

    def activate(self, target: Locator, label: str | None = None) -> None:
        """Follow a link or press a button, and audit the page it leads to."""
        with self._arrive(label):
            self._enter(target)

    def follow(self, name: str | re.Pattern[str], within: Locator | None = None) -> None:
        self.activate(self.link(name, within))

    def follow_nav(self, name: str) -> None:
        """Follow a link of the site's main navigation."""
        self.follow(name, within=self.page.get_by_role("navigation", name="Main"))

    def press(self, name: str | re.Pattern[str], within: Locator | None = None) -> None:
        self.activate(self.button(name, within))

    def press_in_place(self, name: str | re.Pattern[str], within: Locator | None = None) -> None:
        """Press a button whose script works in the page; the caller waits for it."""
        self._enter(self.button(name, within))

    def fill(self, target: Locator, text: str) -> None:
        if self.keyboard:
            self.focus(target)
            self._type(text)
        else:
            target.fill(text)

    def fill_in(self, label: str, text: str, within: Locator | None = None) -> None:
        self.fill(self.field(label, within), text)

    def check(self, target: Locator) -> None:
        if self.keyboard:
            self.focus(target)
            self.page.keyboard.press("Space")
        else:
            target.check()
        assert target.is_checked(), f"{target} did not get checked"

    def choose(self, target: Locator, option: str) -> None:
        """Pick an option of a <select> by its text."""
        if self.keyboard:
            self.focus(target)
            # A closed, focused select jumps to the option whose text is typed.
            self.page.keyboard.type(option)
        else:
            target.select_option(label=option)
        chosen = target.evaluate("s => s.options[s.selectedIndex].text")
        assert chosen == option, f"{target}: chose {chosen!r} instead of {option!r}"

    def attach(self, target: Locator, path: Path) -> None:
        if self.keyboard:
            # The keyboard reaches the file input; the file itself comes from the
            # operating system's file dialog, which no browser automation can drive,
            # so the file is handed to the focused input directly.
            self.focus(target)
            self.page.locator("*:focus").set_input_files(path)
        else:
            target.set_input_files(path)

    def open_disclosure(self, summary: str) -> None:
        """Open a <details> element by its <summary>."""
        target = self.page.locator("summary", has_text=summary)
        self._enter(target)
        assert target.locator("xpath=..").evaluate("d => d.open"), f"{summary} did not open"

    def download(self, target: Locator, to: Path) -> Path:
        with self.page.expect_download() as info:
            self._enter(target)
        info.value.save_as(to)
        return to

    def sign_in(self, email: str, password: str) -> None:
        self.follow_nav("Sign in")
        self.fill_in("Email", email)
        self.fill_in("Password", password)
        self.press("Sign in", within=self.page.get_by_role("main"))
