"""Parsing answers obtained with curl on a node."""

from __future__ import annotations

import pytest

from kubelab.http import Answer, parse_raw

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
