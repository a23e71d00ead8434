"""The tiny DNS client used for the readiness probe (no network needed)."""

from __future__ import annotations

import struct

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
