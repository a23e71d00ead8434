"""The provider contract every cluster (kind, existing, local) fulfils."""

from __future__ import annotations

import abc
from pathlib import Path

from kubelab.commands import CommandFailed, run
from kubelab.errors import NodeCommandFailed, NotSupported
from kubelab.images import Images


class Provider(abc.ABC):
    """A cluster the suite runs on: kubeconfig, images on every node, node access, teardown."""

    name: str

    @property
    @abc.abstractmethod
    def kubeconfig(self) -> Path:
        """Path of a kubeconfig for the cluster (valid after ``setup``)."""

    @abc.abstractmethod
    def setup(self) -> Images:
        """Make the cluster usable and the lab's images available on every node."""

    @abc.abstractmethod
    def teardown(self) -> None:
        """Remove what ``setup`` created, unless told to keep it."""

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        """Run a command on a node and return its stdout.

        Every provider raises the same errors: NotSupported where it cannot run commands on
        nodes, NodeCommandFailed (exit status, stderr, or timeout) when the command fails.
        ``node_command`` does both for providers that run a local program.
        """
        raise NotSupported(f"the {self.name} provider cannot run commands on nodes")

    def get_from_node(self, node_name: str, url: str, timeout: float) -> str:
        """GET ``url`` from the node itself, as the seed's ``vagrant ssh; curl`` did: the raw
        answer (``curl -i``). Raises as ``run_on_node`` does; a provider that reaches nodes
        another way overrides this."""
        argv = ["curl", "-sS", "-i", "--max-time", f"{timeout:g}", url]
        return self.run_on_node(node_name, argv, timeout=timeout + 5)

    def node_containers(self, node_name: str) -> list[str]:
        """Names of the containers the node's runtime runs (like ``docker ps`` on the node)."""
        raise NotSupported(f"the {self.name} provider cannot list a node's containers")

    def logs_hint(self) -> str:
        """Where to look for the cluster's own logs, for failure messages."""
        return ""


def node_command(node_name: str, argv: list[str], timeout: float) -> str:
    """Run ``argv`` (a local program that reaches the node) as ``run_on_node`` promises."""
    try:
        return run(argv, timeout=timeout, what=f"{' '.join(argv)} on node {node_name}")
    except CommandFailed as exc:
        raise NodeCommandFailed(str(exc)) from None
