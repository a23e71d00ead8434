"""The provider contract every cluster (kind, existing, local) fulfils."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Images:
    """The image references the lab's manifests are given, and how nodes get them."""

    redis: str
    web_v1: str
    web_v2: str
    pull_policy: str = "IfNotPresent"


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

    def node_address(self, node_name: str, internal_ip: str) -> str:
        """Address of a node as reachable from the test runner (for NodePorts)."""
        return internal_ip

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        """Run a command on a node and return its stdout; NotSupported where the provider cannot."""
        from kubelab.errors import NotSupported

        raise NotSupported(f"the {self.name} provider cannot run commands on nodes")

    def node_containers(self, node_name: str) -> list[str]:
        """Names of the containers the node's runtime runs (like ``docker ps`` on the node)."""
        from kubelab.errors import NotSupported

        raise NotSupported(f"the {self.name} provider cannot list a node's containers")

    def logs_hint(self) -> str:
        """Where to look for the cluster's own logs, for failure messages."""
        return ""
