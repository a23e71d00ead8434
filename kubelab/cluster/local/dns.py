"""A minimal DNS A-record client (no dig on the host), asking from inside a node's netns."""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

from kubelab.cluster.local.netns import netns_socket

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def build_query(name: str, qid: int) -> bytes:
    """A recursive A query for ``name``."""
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return header + labels + b"\0" + struct.pack("!HH", 1, 1)


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += length + 1


def parse_response(data: bytes, qid: int) -> tuple[str, list[str]]:
    """(rcode name, A addresses) of a response to query ``qid``."""
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", data[:12])
    if rid != qid:
        raise ValueError(f"response id {rid} does not match query id {qid}")
    offset = 12
    for _ in range(qd):
        offset = _skip_name(data, offset) + 4
    addresses = []
    for _ in range(an):
        offset = _skip_name(data, offset)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == 1 and rdlen == 4:
            addresses.append(socket.inet_ntoa(data[offset : offset + 4]))
        offset += rdlen
    return RCODES.get(flags & 0xF, str(flags & 0xF)), addresses


def query_a(netns: Path, server: str, name: str, timeout: float = 2.0, port: int = 53) -> str:
    """Ask ``server`` (UDP ``port``) for the A records of ``name`` from inside ``netns``.

    ``RCODE addr...``, or ``UNREACHABLE <error>`` while no DNS pod answers yet (kube-proxy
    rejects with EPERM, or nothing answers within ``timeout``).
    """
    qid = random.randrange(1, 0xFFFF)
    with netns_socket(netns) as sock:  # a netns that cannot be entered is an error, raised
        sock.settimeout(timeout)
        try:
            sock.sendto(build_query(name, qid), (server, port))
            data, _ = sock.recvfrom(4096)
        except OSError as exc:
            return f"UNREACHABLE {exc}"
    rcode, addresses = parse_response(data, qid)
    return " ".join([rcode, *addresses])
