"""The traffic probe against a real local HTTP server: fast enough, and blind to nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubelab.traffic import Record, Request, traffic


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


def test_probe_sends_at_least_100_requests_per_second_and_records_each(server):
    with traffic([f"http://127.0.0.1:{server.port}/"], rate=150) as probe:
        time.sleep(2)
    record = probe.record
    assert record.rate >= 100, record.summary()
    assert record.failed == []
    assert {r.version for r in record.requests} == {"1.0"}
    counts = [r.count for r in record.requests]
    assert len(set(counts)) == len(counts)


def test_a_50_ms_outage_cannot_hide(server):
    with traffic([f"http://127.0.0.1:{server.port}/"], rate=150) as probe:
        time.sleep(0.5)
        server.outage(0.05)
        time.sleep(0.5)
    record = probe.record
    assert len(record.failed) >= 1, record.summary()
    assert record.longest_gap() >= 0.04, record.summary()
    assert all(r.status == 0 and "Connection" in (r.error or "") for r in record.failed)


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
