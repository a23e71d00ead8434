"""Open a page in headless Chromium (Debian's package) the way a reader would, and report what
went wrong: console errors, uncaught exceptions, resources that did not load, missing sections.

Playwright drives Debian's Chromium (``executable_path``); it never downloads a browser, and only
``file:`` pages are ever opened.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubelab import hostpkgs
from kubelab.errors import EnvironmentProblem
from kubelab.waits import MEDIUM

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage
    from playwright.sync_api import Error as PlaywrightError

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # we are root; the page is our own static file
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Nothing but localhost resolves: the page must not (and cannot) reach anything else.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
)
WIDTH = 1280
MAX_HEIGHT = 16000  # Chromium cannot capture taller pages in one picture

# What the page looks like to a reader, gathered in the page itself after it loaded.
SURVEY = """(() => {
  const visible = (e) => e.getBoundingClientRect().height > 0;
  return {
    sections: [...document.querySelectorAll('[data-section]')]
      .filter(visible).map(e => e.dataset.section),
    images: [...document.images].map(i => ({src: i.getAttribute('src'),
      ok: i.complete && i.naturalWidth > 0})),
    height: document.documentElement.scrollHeight,
  };
})()"""


@dataclass
class PageCheck:
    """What Chromium saw of one page."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    sections: list[str] = field(default_factory=list)  # data-section values shown, in page order
    broken_images: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    def problems(self, expected: Sequence[str] = ()) -> list[str]:
        """Everything a reader would notice: errors, broken images, expected sections missing
        or out of the expected order."""
        found = [f"console: {e}" for e in self.errors]
        found += [f"image does not load: {src}" for src in self.broken_images]
        shown = [s for s in self.sections if s in expected]
        found += [f"missing section: {s}" for s in expected if s not in self.sections]
        wanted = [s for s in expected if s in shown]
        if shown != wanted:
            found.append(f"sections out of order: {shown} instead of {wanted}")
        return found


def ensure_chromium() -> str:
    """The Chromium program's path, installed from Debian's ``chromium`` package when missing."""
    hostpkgs.ensure_programs({CHROMIUM: "chromium"}, "checking the living documentation")
    return shutil.which(CHROMIUM) or CHROMIUM


def console_error(message: ConsoleMessage) -> str | None:
    """A console message as the check reports it, or None when it is no error: a script's
    ``console.error``/``console.assert`` with its text; Chromium's own entry (a resource that did
    not load, which carries no arguments) with its URL."""
    if message.type not in ("error", "assert"):
        return None
    if message.args:
        return f"console.{message.type}: {message.text}"
    return f"{message.text} {message.location.get('url', '')}".strip()


def check_page(page: Path, screenshot: Path | None = None) -> PageCheck:
    """Open ``page`` (a local file) in headless Chromium, survey it, and save a full-page
    screenshot at ``screenshot``; each step waits up to 120 s."""
    # Imported here: Playwright takes a while to import, and a pytest run that checks no page
    # (the plugin imports this module) should not pay for it.
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    url = page.resolve().as_uri()  # a file: URL, never anything remote
    program = ensure_chromium()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        error = console_error(message)
        if error:
            errors.append(error)

    def on_page_error(exc: PlaywrightError) -> None:
        errors.append(f"uncaught {exc.name}: {exc.message}")

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=program, args=list(FLAGS), timeout=MEDIUM * 1000
            )
            try:
                tab = browser.new_page(viewport={"width": WIDTH, "height": 900})
                tab.set_default_timeout(MEDIUM * 1000)
                tab.on("console", on_console)
                tab.on("pageerror", on_page_error)
                tab.goto(url, wait_until="load")
                survey = tab.evaluate(SURVEY)
                check = PageCheck(
                    url=url,
                    errors=errors,
                    sections=list(survey["sections"]),
                    broken_images=[i["src"] for i in survey["images"] if not i["ok"]],
                )
                if screenshot is not None:
                    height = min(int(survey["height"]) + 1, MAX_HEIGHT)
                    tab.set_viewport_size({"width": WIDTH, "height": height})
                    screenshot.parent.mkdir(parents=True, exist_ok=True)
                    tab.screenshot(path=screenshot)
                    check.screenshot = screenshot
                return check
            finally:
                browser.close()
    except PlaywrightError as exc:
        first = (exc.message.strip().splitlines() or [type(exc).__name__])[0]
        raise EnvironmentProblem(f"Chromium could not check {url}: {first}") from None
