"""Where a pod runs, and whether its node's container runtime really runs its container."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kubelab import evidence
from kubelab.cluster.base import Provider
from kubelab.errors import NotSupported
from kubelab.lab.tables import record_pods
from kubelab.namespace import LabNamespace
from kubelab.states import is_control_plane

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where a pod runs, and whether its node's runtime really runs its container."""

    pod: str
    node: str
    worker: bool
    container_id: str
    runtime_containers: tuple[str, ...] | None  # None: the provider cannot look

    @property
    def runs_in_runtime(self) -> bool:
        """The node's runtime lists the container (or, where it cannot be asked, the API does)."""
        if self.runtime_containers is None:
            return bool(self.container_id)
        return self.container_id in self.runtime_containers


def find_placement(ns: LabNamespace, provider: Provider, name: str) -> Placement:
    """Once pod ``name`` is ready: its node and what that node's container runtime says."""
    pod = ns.wait_for_pod_ready(name)
    node = ns.kube.get("Node", pod.spec.node_name)
    status = next(s for s in pod.status.container_statuses or [] if s.name == name)
    container_id = (status.container_id or "").split("://")[-1]
    try:
        runtime: tuple[str, ...] | None = tuple(provider.node_containers(node.metadata.name))
    except NotSupported as exc:
        log.warning("%s; the container is checked through the API only", exc)
        runtime = None
    record_pods(ns)
    if runtime is None:
        evidence.record(
            f"the containers node {node.metadata.name} runs",
            f"(the {provider.name} provider cannot ask a node's runtime; the API reports "
            f"container {container_id[:13]})",
        )
    else:
        evidence.record(
            f"the containers node {node.metadata.name}'s runtime runs ({len(runtime)})",
            "\n".join(f"{c[:13]}{'   <- ' + name if c == container_id else ''}" for c in runtime),
        )
    return Placement(
        pod=name,
        node=node.metadata.name,
        worker=not is_control_plane(node),
        container_id=container_id,
        runtime_containers=runtime,
    )
