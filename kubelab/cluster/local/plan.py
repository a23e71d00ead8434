"""The address plan and names of a local cluster: pure data, no side effects.

Host netns: bridge ``klab0`` 172.30.0.1/24 and a route to each node's pod /24.
Node i (0 = control plane, 1..N = workers): netns ``<cluster>-cp`` / ``<cluster>-w<i>``,
node name ``<cluster>-control-plane`` / ``<cluster>-worker<i>``, address 172.30.0.(10+i),
pod CIDR 10.244.i.0/24, veth ``klab0n<i>`` (host side) / ``eth0`` (node side).
Services 10.96.0.0/16: ``kubernetes`` 10.96.0.1, ``kube-dns`` 10.96.0.10 (the CoreDNS
Deployment). One local cluster per host: the bridge and subnet are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BRIDGE = "klab0"
BRIDGE_CIDR = "172.30.0.0/24"
GATEWAY = "172.30.0.1"
NODE_HOST_OFFSET = 10
MAX_WORKERS = 20
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
IPTABLES_COMMENT = "kubelab local cluster"
RUN_ROOT = Path("/run/kubelab")


@dataclass(frozen=True)
class LocalNode:
    """One node of the local cluster as the suite sees it."""

    name: str
    address: str
    netns: str
    containerd_socket: Path
    control_plane: bool
    index: int
    pod_cidr: str
    veth: str

    @property
    def pod_gateway(self) -> str:
        """The node's cni0 address (first address of its pod /24)."""
        return self.pod_cidr.rsplit(".", 1)[0] + ".1"

    @property
    def short(self) -> str:
        """Short per-node directory / log prefix: ``cp`` or ``w<i>``."""
        return "cp" if self.control_plane else f"w{self.index}"


def run_dir(cluster: str) -> Path:
    """Runtime directory (sockets, containerd state) of a cluster, on tmpfs."""
    return RUN_ROOT / cluster


def plan_nodes(cluster: str, workers: int) -> list[LocalNode]:
    """The control-plane node followed by ``workers`` worker nodes."""
    nodes = []
    for index in range(workers + 1):
        cp = index == 0
        short = "cp" if cp else f"w{index}"
        nodes.append(
            LocalNode(
                name=f"{cluster}-control-plane" if cp else f"{cluster}-worker{index}",
                address=f"172.30.0.{NODE_HOST_OFFSET + index}",
                netns=f"{cluster}-{short}",
                containerd_socket=run_dir(cluster) / short / "containerd.sock",
                control_plane=cp,
                index=index,
                pod_cidr=f"10.244.{index}.0/24",
                veth=f"{BRIDGE}n{index}",
            )
        )
    return nodes


def control_plane(nodes: list[LocalNode]) -> LocalNode:
    """The control-plane node of a plan."""
    return next(node for node in nodes if node.control_plane)


def apiserver_url(nodes: list[LocalNode]) -> str:
    """https://<control-plane address>:6443."""
    return f"https://{control_plane(nodes).address}:{APISERVER_PORT}"
