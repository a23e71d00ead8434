"""Asking from inside a node's network namespace without a process per question: sockets
made in the namespace, and what a node's kube-proxy says about its rules."""

from __future__ import annotations

import ctypes
import os
import re
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
KUBE_PROXY_METRICS = 10249  # on the node's loopback (configs.kube_proxy_config)
# Set once kube-proxy has written its rules for the Services and endpoints it was given, after
# its informers synced (absent or 0 before; /healthz says healthy already while it starts up).
LAST_SYNC = re.compile(
    rb'^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} (\S+)$', re.M
)


def netns_socket(netns: Path, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket (UDP unless ``kind`` says otherwise) that lives in the network namespace
    ``netns`` (e.g. /run/netns/x).

    Made by a thread that enters the namespace (setns applies to the calling thread only) and
    then ends; the socket keeps its namespace, so the caller's own thread never leaves its own.
    No process per question: a boot asks from every node several times a second while the
    cluster's own start keeps the cores busy, and a process (nsenter + python) per question
    would add to that.
    """
    made: list[socket.socket | BaseException] = []

    def enter_and_make() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns {netns}: {os.strerror(errno)}")
            finally:
                os.close(fd)
            made.append(socket.socket(socket.AF_INET, kind))
        except BaseException as exc:  # noqa: BLE001  (raised again in the caller's thread)
            made.append(exc)

    thread = threading.Thread(target=enter_and_make, name=f"netns {netns.name}")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def kube_proxy_synced(netns: Path, port: int = KUBE_PROXY_METRICS, timeout: float = 1.0) -> bool:
    """Whether the kube-proxy of the node whose namespace is ``netns`` has programmed its rules
    at least once (False while it does not answer)."""
    with netns_socket(netns, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            return False
    found = LAST_SYNC.search(b"".join(chunks))
    return found is not None and float(found.group(1)) > 0
