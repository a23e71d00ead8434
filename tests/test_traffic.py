"""The traffic probe against a real local HTTP server: fast enough, and blind to nothing."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubelab.http import ANSWERING, CONNECTING
from kubelab.traffic import Record, Request, traffic
from kubelab.waits import wait_until


class Hello(BaseHTTPRequestHandler):
    hits = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with Hello.lock:
            Hello.hits += 1
            n = Hello.hits
        body = f"Hello Container World! I have been seen {n} times.\n".encode()
        self.send_response(200)
        self.send_header("X-App-Version", "1.0")
        self.send_header("X-Hostname", "test")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class FlakyServer:
    """A real HTTP server on loopback that can go away and come back on the same port."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Hello)
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def outage(self, seconds: float) -> None:
        self.stop()
        time.sleep(seconds)
        self.start()


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    flaky = FlakyServer()
    yield flaky
    flaky.stop()


def test_probe_keeps_its_schedule_of_150_requests_per_second(monkeypatch):
    """The pacing itself, with an instant stand-in for the request: a loaded machine slows a
    real server's answers, not the probe's schedule (6 workers, one request each 40 ms)."""
    monkeypatch.setattr(
        "kubelab.traffic._one",
        lambda url, timeout, started: Request(
            sent=time.monotonic() - started, latency=0.0, target=url, status=200
        ),
    )
    with traffic(["http://192.0.2.1:1/"], rate=150) as probe:
        wait_until(lambda: len(probe.record.requests), lambda n: n >= 300, timeout=30, what="300")
    sent = sorted(r.sent for r in probe.record.requests)
    spans = [b - a for a, b in itertools.pairwise(sent[::25])]  # 25 requests: 1/6 s on schedule
    assert sorted(spans)[len(spans) // 2] == pytest.approx(25 / 150, rel=0.25), spans


def test_probe_records_every_request_with_its_answer(server):
    with traffic([f"http://127.0.0.1:{server.port}/"], rate=150) as probe:
        wait_until(lambda: len(probe.record.requests), lambda n: n >= 100, timeout=30, what="100")
    record = probe.record
    assert record.failed == []
    assert {r.version for r in record.requests} == {"1.0"}
    counts = [r.count for r in record.requests]
    assert len(set(counts)) == len(counts)


def test_an_outage_cannot_hide(server):
    """The server is down for 50 ms and for as long as it takes the probe (however slowed by
    the machine's load) to send during it: every request then fails, and the gap shows it."""
    with traffic([f"http://127.0.0.1:{server.port}/"], rate=150) as probe:
        wait_until(lambda: len(probe.record.requests), lambda n: n >= 20, timeout=30, what="20")
        server.stop()
        down = time.monotonic()
        sent = len(probe.record.requests)
        wait_until(lambda: len(probe.record.requests), lambda n: n > sent + 2, timeout=30, what="3")
        time.sleep(max(0.0, 0.05 - (time.monotonic() - down)))
        outage = time.monotonic() - down
        server.start()
        wait_until(lambda: probe.record.requests[-1].ok, bool, timeout=30, what="answers again")
    record = probe.record
    assert len(record.failed) >= 1, record.summary()
    assert record.longest_gap() >= outage * 0.8, record.summary()
    assert all(r.status == 0 and "Connection" in (r.error or "") for r in record.failed)
    # and where each failed: no connection, or no answer on one
    assert all(
        (r.error or "").endswith((f"({CONNECTING})", f"({ANSWERING})")) for r in record.failed
    )


def test_probe_stops_when_the_block_fails(server):
    with pytest.raises(RuntimeError), traffic([f"http://127.0.0.1:{server.port}/"]) as probe:
        raise RuntimeError("the step failed")
    sent = len(probe.record.requests)
    time.sleep(0.2)
    assert len(probe.record.requests) == sent
    assert not any(t.is_alive() for t in probe._threads)


def test_longest_gap_counts_the_edges():
    record = Record(
        requests=[
            Request(sent=0.1, latency=0.1, target="x", status=200),
            Request(sent=0.3, latency=0.1, target="x", status=500),
        ],
        duration=1.0,
    )
    assert record.longest_gap() == pytest.approx(0.8)
    assert "2 requests" in record.summary()
    assert "1 failed" in record.summary()
