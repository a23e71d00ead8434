"""A minimal DNS A-record client (no dig on the host); run as a module inside a node netns."""

from __future__ import annotations

import random
import socket
import struct
import sys

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


def query_a(server: str, name: str, timeout: float = 2.0) -> tuple[str, list[str]]:
    """Ask ``server`` (UDP 53) for the A records of ``name``; return (rcode, addresses)."""
    qid = random.randrange(1, 0xFFFF)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(build_query(name, qid), (server, 53))
        data, _ = sock.recvfrom(4096)
    return parse_response(data, qid)


def main(argv: list[str]) -> int:
    """``python -m kubelab.cluster.local.dns SERVER NAME``: print ``RCODE addr...``."""
    try:
        rcode, addresses = query_a(argv[0], argv[1])
    except OSError as exc:  # no ready DNS pod yet: kube-proxy rejects (EPERM), or no answer
        print("UNREACHABLE", exc)
        return 0
    print(rcode, *addresses)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
