"""HTTP answers from the web app, however they were obtained (directly, from a node, via proxy)."""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SEEN = re.compile(r"I have been seen (\d+) times")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer from the web app, and how it was reached."""

    status: int
    body: str
    version: str | None = None
    hostname: str | None = None
    via: str = ""

    @property
    def text(self) -> str:
        """The body without its trailing newline."""
        return self.body.strip()

    @property
    def count(self) -> int | None:
        """The visit counter the answer reports, or None when it reports none."""
        match = SEEN.search(self.body)
        return int(match.group(1)) if match else None


def answer(status: int, body: str, headers: Mapping[str, str], via: str) -> Answer:
    """An Answer from an HTTP status, body and headers (header names in any case)."""
    lower = {key.lower(): value for key, value in headers.items()}
    return Answer(
        status=status,
        body=body,
        version=lower.get("x-app-version"),
        hostname=lower.get("x-hostname"),
        via=via,
    )


# What a GET raises when no HTTP answer comes back (refused, reset, timed out, garbled).
NO_ANSWER = (OSError, http.client.HTTPException)
# Where a GET failed (a note on its error): no connection was made, or no answer came on one.
CONNECTING = "while connecting"
ANSWERING = "connected, while waiting for the answer"


def get(url: str, timeout: float = 5.0, via: str = "") -> Answer:
    """GET ``url`` from the test runner on a new connection, as the seed's curl does
    (NO_ANSWER errors propagate).

    The standard library's client, not requests: the rollout probe sends hundreds a second on
    the same two cores as the cluster, and requests costs about six times the CPU per GET.

    An error carries a note (``__notes__``, see :func:`phase`) saying whether no connection was
    made or the connection was made and no answer came: a stalled path and a stalled server
    read alike otherwise ("timed out").
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
    try:
        try:
            conn.connect()
        except NO_ANSWER as exc:
            exc.add_note(CONNECTING)
            raise
        try:
            conn.request("GET", parts.path or "/", headers={"Connection": "close"})
            response = conn.getresponse()
            body = response.read().decode(errors="replace")
        except NO_ANSWER as exc:
            exc.add_note(ANSWERING)
            raise
        return answer(response.status, body, dict(response.getheaders()), via or url)
    finally:
        conn.close()


def phase(exc: BaseException) -> str:
    """Where a GET of :func:`get` failed: CONNECTING or ANSWERING ("" for other errors)."""
    return next((n for n in getattr(exc, "__notes__", []) if n in (CONNECTING, ANSWERING)), "")


def parse_raw(raw: str, via: str) -> Answer:
    """Parse ``curl -i`` output (status line, headers, blank line, body) into an Answer."""
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    if not lines or not lines[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {raw[:80]!r}")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip()] = value.strip()
    return answer(status, body, headers, via)
