"""What a node's kube-proxy says about its rules, asked from inside a network namespace (this
process's own stands in for a node's; a real HTTP server answers)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.cluster.local import netns

OWN = Path("/proc/self/ns/net")
SYNCED = (
    b'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.7962857926145992e+09\n'
    b'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv6"} 1.79628578e+09\n'
)
STARTING = b'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 1.7e+09\n'


@pytest.fixture
def metrics() -> Iterator[tuple[int, list[bytes]]]:
    """A metrics endpoint on loopback; the test sets what it answers."""
    page = [b""]

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/metrics" else 404)
            self.end_headers()
            self.wfile.write(page[0])

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], page
    server.shutdown()


def test_synced_once_its_last_sync_time_is_set(metrics) -> None:
    port, page = metrics
    page[0] = b"# HELP ...\n" + SYNCED
    assert netns.kube_proxy_synced(OWN, port=port)


def test_not_synced_while_it_has_only_queued_changes(metrics) -> None:
    port, page = metrics
    page[0] = STARTING
    assert not netns.kube_proxy_synced(OWN, port=port)


def test_not_synced_while_nothing_answers() -> None:
    port = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    free = port.server_address[1]
    port.server_close()
    assert not netns.kube_proxy_synced(OWN, port=free, timeout=0.2)
