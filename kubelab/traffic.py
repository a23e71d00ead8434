"""A traffic probe: continuous HTTP requests over several addresses, every one recorded."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from kubelab import http

log = logging.getLogger(__name__)

# Requests per second in all, at least 200 (docs/design.md, Targets): one every 4 ms. They go
# round-robin over the URLs, so each address gets RATE / len(urls) a second (62.5 on 4 nodes,
# one every 16 ms): an outage of one node shorter than that can fall between two of its
# requests. The change chapter reports the rate per node.
RATE = 250.0
# Threads sending: each waits for its answer, so the rate holds while an answer takes up to
# WORKERS / RATE (64 ms); two rollouts at once on a busy machine answer that slowly.
WORKERS = 16


@dataclass(frozen=True)
class Request:
    """One request of the probe: when it was sent, how it went, who answered."""

    sent: float  # seconds since the probe started
    latency: float
    target: str  # host:port the request went to
    status: int  # 0 when no HTTP answer came back
    version: str | None = None
    hostname: str | None = None
    count: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The request got a 200 answer."""
        return self.status == 200

    @property
    def done(self) -> float:
        """When the answer (or the error) arrived, in seconds since the probe started."""
        return self.sent + self.latency


@dataclass
class Record:
    """Everything the probe saw, in send order."""

    requests: list[Request] = field(default_factory=list)
    started: float = 0.0  # wall-clock time of the start, for lining up with other observations
    duration: float = 0.0

    @property
    def failed(self) -> list[Request]:
        """Requests without a 200 answer."""
        return [r for r in self.requests if not r.ok]

    @property
    def rate(self) -> float:
        """Requests sent per second."""
        return len(self.requests) / self.duration if self.duration else 0.0

    def rates(self) -> dict[str, float]:
        """Requests sent per second to each target (host:port)."""
        sent = Counter(r.target for r in self.requests)
        return {target: n / self.duration if self.duration else 0.0 for target, n in sent.items()}

    def versions(self) -> Counter[str | None]:
        """How many successful answers each app version gave."""
        return Counter(r.version for r in self.requests if r.ok)

    def longest_gap(self) -> float:
        """The longest time between two consecutive successful answers (s); the outage bound."""
        times = sorted(r.done for r in self.requests if r.ok)
        edges = [0.0, *times, self.duration] if times else [0.0, self.duration]
        return max(b - a for a, b in itertools.pairwise(edges))

    def summary(self) -> str:
        """One line: sent, failed, versions seen, longest gap, rate."""
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(self.versions().items(), key=str))
        return (
            f"{len(self.requests)} requests in {self.duration:.1f} s ({self.rate:.0f}/s), "
            f"{len(self.failed)} failed, versions seen {{{versions}}}, "
            f"longest gap between answers {self.longest_gap() * 1000:.0f} ms"
        )


def _one(url: str, timeout: float, started: float) -> Request:
    target = urlsplit(url).netloc
    sent = time.monotonic()
    try:
        answer = http.get(url, timeout=timeout)
    except http.NO_ANSWER as exc:
        where = http.phase(exc)
        return Request(
            sent=sent - started,
            latency=time.monotonic() - sent,
            target=target,
            status=0,
            error=f"{type(exc).__name__}: {exc}" + (f" ({where})" if where else ""),
        )
    return Request(
        sent=sent - started,
        latency=time.monotonic() - sent,
        target=target,
        status=answer.status,
        version=answer.version,
        hostname=answer.hostname,
        count=answer.count,
        error=None if answer.status == 200 else answer.text[:200],
    )


class TrafficProbe:
    """Sends GETs at ``rate`` per second, round-robin over ``urls``, from ``workers`` threads."""

    def __init__(
        self,
        urls: Sequence[str],
        rate: float = RATE,
        workers: int = WORKERS,
        timeout: float = 2.0,
    ) -> None:
        if not urls:
            raise ValueError("the traffic probe needs at least one URL")
        self.urls = list(urls)
        self.interval = workers / rate
        self.workers = workers
        self.timeout = timeout
        self.record = Record()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _run(self, index: int, started: float) -> None:
        first = index % len(self.urls)
        targets = itertools.cycle(self.urls[first:] + self.urls[:first])
        # Stagger the workers so requests are spread evenly over each interval.
        next_at = started + self.interval * index / self.workers
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            request = _one(next(targets), self.timeout, started)
            with self._lock:
                self.record.requests.append(request)
            next_at += self.interval

    def start(self) -> None:
        """Start sending; returns at once."""
        started = time.monotonic()
        self.record = Record(started=time.time())
        self._t0 = started
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(i, started), name=f"probe-{i}", daemon=True)
            for i in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> Record:
        """Stop sending, wait for requests in flight, and return the record in send order."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        self.record.duration = time.monotonic() - self._t0
        self.record.requests.sort(key=lambda r: r.sent)
        log.info("traffic: %s", self.record.summary())
        return self.record


@contextmanager
def traffic(urls: Sequence[str], rate: float = RATE) -> Iterator[TrafficProbe]:
    """Run a probe for the duration of the block; it is stopped also when the block fails."""
    probe = TrafficProbe(urls, rate=rate)
    probe.start()
    try:
        yield probe
    finally:
        probe.stop()
