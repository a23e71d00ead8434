"""Parsing answers obtained with curl on a node; a GET's failures, named by where they
happened (real sockets on loopback)."""

from __future__ import annotations

import socket

import pytest

from kubelab.http import ANSWERING, CONNECTING, NO_ANSWER, Answer, get, parse_raw, phase

RAW = (
    "HTTP/1.1 200 OK\r\nServer: gunicorn\r\nX-App-Version: 2.0\r\nX-Hostname: web-abc\r\n\r\n"
    "Hello Container World! I have been seen 7 times and my hostname is web-abc.\n"
)


def test_parse_raw_reads_status_headers_and_body():
    answer = parse_raw(RAW, via="curl on node w1")
    assert (answer.status, answer.version, answer.hostname, answer.count) == (
        200,
        "2.0",
        "web-abc",
        7,
    )
    assert answer.text.endswith("my hostname is web-abc.")


def test_parse_raw_refuses_what_is_not_http():
    with pytest.raises(ValueError, match="not an HTTP response"):
        parse_raw("curl: (7) Failed to connect", via="x")


def test_an_error_answer_has_no_count():
    assert Answer(status=500, body="Error -2 connecting to redis:6379.\n").count is None


@pytest.fixture
def silent_server():
    """A loopback port that accepts connections (the kernel completes them) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def _failure(url: str, timeout: float) -> OSError:
    with pytest.raises(NO_ANSWER) as caught:
        get(url, timeout=timeout)
    assert isinstance(caught.value, OSError)
    return caught.value


def test_a_connected_server_that_never_answers_is_told_from_a_refused_connection(silent_server):
    stalled = _failure(f"http://127.0.0.1:{silent_server}/", timeout=0.3)
    assert isinstance(stalled, TimeoutError)
    assert phase(stalled) == ANSWERING

    with socket.socket() as unused:  # a port nobody listens on: refused at once
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    refused = _failure(f"http://127.0.0.1:{port}/", timeout=0.3)
    assert isinstance(refused, ConnectionRefusedError)
    assert phase(refused) == CONNECTING


def test_a_connection_that_is_never_made_is_named_so():
    """A listening socket whose accept queue is full drops new SYNs (Linux): the connection
    itself times out, as when a path drops packets."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        queued = []
        try:
            for _ in range(8):  # fill the accept queue; then a connect hangs
                s = socket.socket()
                s.settimeout(0.3)
                try:
                    s.connect(("127.0.0.1", port))
                except TimeoutError:
                    s.close()
                    break
                queued.append(s)
            else:
                pytest.fail("the accept queue never filled")
            unmade = _failure(f"http://127.0.0.1:{port}/", timeout=0.3)
        finally:
            for s in queued:
                s.close()
    assert isinstance(unmade, TimeoutError)
    assert phase(unmade) == CONNECTING
