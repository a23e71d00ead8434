"""The provider contract: every provider runs node commands with the same errors, and reaches a
pod from its node the same way.

``HostProvider`` is a stand-in whose "node" is this host (a real provider's node is a network
namespace or a container); the commands, curl and the app it reaches are real.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kubelab.cluster.base import Provider, node_command
from kubelab.cluster.existing import ExistingCluster
from kubelab.errors import NodeCommandFailed, NotSupported
from kubelab.hostpkgs import ensure_programs
from kubelab.http import parse_raw
from kubelab.images import Images
from tests.conftest import Served


class HostProvider(Provider):
    """Stand-in provider whose only node is this host."""

    name = "host"
    kubeconfig = Path("/nonexistent")

    def setup(self) -> Images:
        raise NotImplementedError

    def teardown(self) -> None:
        pass

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        return node_command(node_name, argv, timeout)


@pytest.fixture
def page(redis_port: int, serve_app: Callable[..., Served]) -> str:
    """The real app under gunicorn, counting in a real redis."""
    return serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port)).url + "/"


def test_a_failing_node_command_is_the_same_error_on_every_provider():
    with pytest.raises(NodeCommandFailed, match="on node w1 failed with exit 3: gone"):
        node_command("w1", ["sh", "-c", "echo gone >&2; exit 3"], timeout=10)
    with pytest.raises(NodeCommandFailed, match=r"did not finish within 0\.2 s"):
        node_command("w1", ["sleep", "5"], timeout=0.2)


def test_a_provider_that_cannot_reach_nodes_says_not_supported():
    existing = ExistingCluster(Path("/nonexistent"), Images("r", "w1", "w2"))
    with pytest.raises(NotSupported):
        existing.get_from_node("w1", "http://10.0.0.1:5000/", timeout=1)


def test_the_page_from_the_node_is_the_raw_answer(page):
    ensure_programs({"curl": "curl"}, "the node-side request")
    answer = parse_raw(HostProvider().get_from_node("host", page, timeout=5), via="host")
    assert (answer.status, answer.version) == (200, "1.0")
    assert answer.text == f"Hello Container World! I have been seen {answer.count} times."


def test_a_failed_request_from_the_node_is_a_node_command_failure(page):
    ensure_programs({"curl": "curl"}, "the node-side request")
    closed = page.rsplit(":", 1)[0] + ":9/"  # the discard port: nothing listens
    with pytest.raises(NodeCommandFailed, match="on node host failed with exit 7"):
        HostProvider().get_from_node("host", closed, timeout=5)
