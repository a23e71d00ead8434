"""Open a page in headless Chromium (Debian's package) the way a reader would, and report what
went wrong: console errors, uncaught exceptions, resources that did not load, missing sections.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no port
is opened, no driver program or library is needed, and only ``file:`` pages are ever opened.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelab import hostpkgs
from kubelab.errors import EnvironmentProblem

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
TIMEOUT = 60.0

# What the page looks like to a reader, gathered in the page itself after it loaded.
SURVEY = """(() => {
  const visible = (e) => e.getBoundingClientRect().height > 0;
  return {
    sections: [...document.querySelectorAll('[data-section]')]
      .filter(visible).map(e => e.dataset.section),
    images: [...document.images].map(i => ({src: i.getAttribute('src'),
      ok: i.complete && i.naturalWidth > 0})),
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


class _Pipe:
    """The DevTools protocol over Chromium's pipe: JSON messages separated by NUL bytes."""

    def __init__(self, send: int, receive: int, deadline: float) -> None:
        self.send_fd, self.receive_fd, self.deadline = send, receive, deadline
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.send_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise EnvironmentProblem(f"Chromium refused {method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = self.deadline - time.monotonic()
            ready, _, _ = select.select([self.receive_fd], [], [], max(left, 0))
            if not ready:
                raise EnvironmentProblem(f"Chromium did not answer within {TIMEOUT:.0f} s")
            chunk = os.read(self.receive_fd, 1 << 20)
            if not chunk:
                raise EnvironmentProblem("Chromium exited while the page was being checked")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return dict(json.loads(message))


def ensure_chromium() -> str:
    """The Chromium program, installed from Debian's ``chromium`` package when missing."""
    hostpkgs.ensure_programs({CHROMIUM: "chromium"}, "checking the living documentation")
    return CHROMIUM


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            errors.append(f"uncaught {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
    return errors


def check_page(page: Path, screenshot: Path | None = None) -> PageCheck:
    """Open ``page`` (a local file) in headless Chromium, survey it, and save a full-page
    screenshot at ``screenshot``; waits up to 60 s."""
    url = page.resolve().as_uri()  # a file: URL, never anything remote
    program = ensure_chromium()
    to_chromium, from_us = os.pipe()
    to_us, from_chromium = os.pipe()

    def on_fds_3_and_4() -> None:  # where --remote-debugging-pipe expects them
        os.dup2(to_chromium, 3)
        os.dup2(from_chromium, 4)

    with tempfile.TemporaryDirectory(prefix="kubelab-chromium-") as profile:
        process = subprocess.Popen(
            [
                program,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                f"--window-size={WIDTH},900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4, to_chromium, from_chromium),
            preexec_fn=on_fds_3_and_4,
        )
        os.close(to_chromium)
        os.close(from_chromium)
        pipe = _Pipe(from_us, to_us, time.monotonic() + TIMEOUT)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.call(f"{domain}.enable", session)
            pipe.call("Page.navigate", session, url=url)
            pipe.wait_for("Page.loadEventFired")
            survey = pipe.call("Runtime.evaluate", session, expression=SURVEY, returnByValue=True)[
                "result"
            ]["value"]
            check = PageCheck(
                url=url,
                errors=_errors(pipe.events),
                sections=list(survey["sections"]),
                broken_images=[i["src"] for i in survey["images"] if not i["ok"]],
            )
            if screenshot is not None:
                size = pipe.call("Page.getLayoutMetrics", session)["cssContentSize"]
                height = min(int(size["height"]) + 1, MAX_HEIGHT)
                pipe.call(
                    "Emulation.setDeviceMetricsOverride",
                    session,
                    width=WIDTH,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                data = pipe.call("Page.captureScreenshot", session, format="png")["data"]
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(data))
                check.screenshot = screenshot
            pipe.call("Browser.close")
            process.wait(timeout=10)
            return check
        finally:
            os.close(from_us)
            os.close(to_us)
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
