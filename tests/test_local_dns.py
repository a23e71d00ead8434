"""The tiny DNS client used for the readiness probe (no network needed)."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from kubelab.cluster.local import dns


def _answer(qid: int, rcode: int, address: bytes | None) -> bytes:
    query = dns.build_query("kubernetes.default.svc.cluster.local", qid)
    header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, 1 if address else 0, 0, 0)
    body = query[12:]
    if address:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4) + address
    return header + body


def test_parses_an_a_record() -> None:
    assert dns.parse_response(_answer(7, 0, bytes([10, 96, 0, 1])), 7) == ("NOERROR", ["10.96.0.1"])


def test_reports_nxdomain() -> None:
    assert dns.parse_response(_answer(9, 3, None), 9) == ("NXDOMAIN", [])


def test_asks_from_inside_the_given_netns(tmp_path) -> None:
    # This process's own netns stands in for a node's: the answer comes from a real UDP server.
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def answer_once() -> None:
        query, client = server.recvfrom(512)
        server.sendto(_answer(struct.unpack("!H", query[:2])[0], 0, bytes([10, 96, 0, 1])), client)

    threading.Thread(target=answer_once, daemon=True).start()
    own = Path("/proc/self/ns/net")
    answer = dns.query_a(own, "127.0.0.1", "kubernetes.default", port=server.getsockname()[1])
    assert answer == "NOERROR 10.96.0.1"
    server.close()


def test_nothing_answering_is_unreachable_not_an_error() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    own = Path("/proc/self/ns/net")
    answer = dns.query_a(own, "127.0.0.1", "x", timeout=0.2, port=silent.getsockname()[1])
    assert answer.startswith("UNREACHABLE")
    silent.close()


def test_a_path_that_is_no_netns_is_an_error(tmp_path) -> None:
    (tmp_path / "not-a-netns").write_text("")
    with pytest.raises(OSError, match="setns"):
        dns.query_a(tmp_path / "not-a-netns", "127.0.0.1", "x", timeout=0.2)
