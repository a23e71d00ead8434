"""Cluster-wide observations the lab's Then steps assert on."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubernetes import client

from kubelab import evidence
from kubelab.client import Kube
from kubelab.states import (
    endpoint_ready,
    is_control_plane,
    is_ready,
    not_ready_reason,
    takes_no_workload,
)

# A kubelet may be up to three minor versions older than the API server, never newer.
KUBELET_SKEW = 3


def parse_version(version: str) -> tuple[int, int]:
    """(major, minor) of a release such as ``v1.34.4``; ValueError for anything else."""
    match = re.fullmatch(r"v([1-9]\d*)\.(\d+)\.\d+([-+].*)?", version)
    if not match:  # v0.0.0-master is what a build without version ldflags reports
        raise ValueError(f"not a Kubernetes release version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def roles(node: client.V1Node) -> str:
    """The node's roles as kubectl shows them (from ``node-role.kubernetes.io/*`` labels)."""
    prefix = "node-role.kubernetes.io/"
    named = sorted(k[len(prefix) :] for k in node.metadata.labels or {} if k.startswith(prefix))
    if not named and is_control_plane(node):
        named = ["control-plane"]
    return ",".join(named) or "<none>"


def _info(node: client.V1Node, field: str) -> str:
    info = node.status.node_info
    return str(getattr(info, field, None) or "<unknown>")


def _address(node: client.V1Node) -> str:
    return next(
        (a.address for a in node.status.addresses or [] if a.type == "InternalIP"), "<none>"
    )


def _record_nodes(nodes: Sequence[client.V1Node]) -> None:
    rows = [
        [
            n.metadata.name,
            ("Ready" if is_ready(n) else "NotReady")
            + (",SchedulingDisabled" if n.spec.unschedulable else ""),
            roles(n),
            evidence.age(n.metadata.creation_timestamp),
            _info(n, "kubelet_version"),
            _address(n),
        ]
        for n in sorted(nodes, key=lambda n: n.metadata.name)
    ]
    evidence.record(
        "the nodes and their roles",
        evidence.table(["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"], rows),
    )


def worker_nodes(kube: Kube) -> list[client.V1Node]:
    """Nodes that are not control-plane nodes."""
    workers = [n for n in kube.nodes() if not is_control_plane(n)]
    evidence.record(
        "the worker nodes", f"{len(workers)}: {', '.join(n.metadata.name for n in workers)}"
    )
    return workers


def nodes_not_ready(kube: Kube) -> list[str]:
    """Each node whose Ready condition is not True, with the condition's reason and message."""
    nodes = kube.nodes()
    _record_nodes(nodes)
    return [not_ready_reason(n) for n in nodes if not is_ready(n)]


@dataclass(frozen=True)
class ControlPlane:
    """Where the control plane runs, as found, and which of its nodes take ordinary pods."""

    case: str  # one sentence: what was found
    taking_workload: list[str]


def _addresses(node: client.V1Node) -> set[str]:
    return {str(a.address) for a in node.status.addresses or []}


def control_plane(kube: Kube, record: Callable[[str, object], None] | None = None) -> ControlPlane:
    """Decide on evidence where the control plane runs: nodes labelled or tainted as control
    plane; else the nodes the API server (the ``kubernetes`` Service's endpoints) runs on; else,
    on none of the nodes (a managed cluster). Never passes for want of evidence. ``record``
    (pytest's ``record_property``) is told the case found, as "outcome"."""
    nodes = kube.nodes()
    evidence.record(
        "the nodes' roles and taints",
        evidence.table(
            ["NAME", "ROLES", "TAINTS"],
            [
                [
                    n.metadata.name,
                    roles(n),
                    ",".join(f"{t.key}:{t.effect}" for t in n.spec.taints or []) or "<none>",
                ]
                for n in sorted(nodes, key=lambda n: n.metadata.name)
            ],
        ),
    )
    found = _control_plane(kube, nodes)
    evidence.record("where the control plane runs", found.case)
    if record is not None:
        record("outcome", f"control plane: {found.case}")
    return found


def _control_plane(kube: Kube, nodes: list[client.V1Node]) -> ControlPlane:
    labelled = [n for n in nodes if is_control_plane(n)]
    if labelled:
        names = ", ".join(n.metadata.name for n in labelled)
        return ControlPlane(
            f"control-plane node(s) {names}",
            [n.metadata.name for n in labelled if not takes_no_workload(n)],
        )
    slices = kube.objects("EndpointSlice", "default", "kubernetes.io/service-name=kubernetes")
    api = sorted({a for s in slices for e in s.endpoints or [] for a in e.addresses})
    if not api:
        return ControlPlane(
            "no node is labelled control plane and the kubernetes Service has no endpoints",
            ["(where the API server runs cannot be told)"],
        )
    hosting = [n for n in nodes if _addresses(n) & set(api)]
    if not hosting:
        return ControlPlane(
            f"a managed control plane: the API server ({', '.join(api)}) runs on none of the "
            f"{len(nodes)} nodes",
            [],
        )
    return ControlPlane(
        f"the API server ({', '.join(api)}) runs on unlabelled node(s) "
        + ", ".join(n.metadata.name for n in hosting),
        [n.metadata.name for n in hosting if not takes_no_workload(n)],
    )


def server_release(kube: Kube) -> tuple[int, int]:
    """(major, minor) of the API server's version; ValueError when it is no release."""
    version = kube.server_version()
    evidence.record("the API server's version", f"Server Version: {version}")
    return parse_version(version)


def kubelets_out_of_skew(kube: Kube) -> list[str]:
    """Nodes whose kubelet version is unparsable, newer than the API server or too old."""
    server = parse_version(kube.server_version())
    nodes = kube.nodes()
    evidence.record(
        "each kubelet's version",
        evidence.table(
            ["NAME", "KUBELET", "CONTAINER-RUNTIME", "KERNEL"],
            [
                [
                    n.metadata.name,
                    _info(n, "kubelet_version"),
                    _info(n, "container_runtime_version"),
                    _info(n, "kernel_version"),
                ]
                for n in sorted(nodes, key=lambda n: n.metadata.name)
            ],
        ),
    )
    bad = []
    for node in nodes:
        reported = node.status.node_info.kubelet_version
        try:
            major, minor = parse_version(reported)
        except ValueError:
            bad.append(f"{node.metadata.name}: {reported!r}")
            continue
        if major != server[0] or not server[1] - KUBELET_SKEW <= minor <= server[1]:
            bad.append(f"{node.metadata.name}: {reported} vs server v{server[0]}.{server[1]}")
    return bad


def dns_service_problems(kube: Kube, namespace: str = "kube-system") -> list[str]:
    """Why the cluster's DNS Service (``kube-dns``, as kubeadm and kind name it) would not answer:
    missing, or no ready endpoint behind it; empty when it has ready endpoints."""
    service = kube.get("Service", "kube-dns", namespace)
    if service is None:
        return [f"no Service kube-dns in {namespace}"]
    slices = kube.objects("EndpointSlice", namespace, "kubernetes.io/service-name=kube-dns")
    endpoints = [e for s in slices for e in s.endpoints or []]
    evidence.record(
        f"the kube-dns Service in {namespace} and its endpoints",
        evidence.table(
            ["ADDRESS", "POD", "READY"],
            [
                [
                    ",".join(e.addresses),
                    e.target_ref.name if e.target_ref else "-",
                    str(endpoint_ready(e)).lower(),
                ]
                for e in endpoints
            ],
        )
        + f"\n(Service kube-dns, ClusterIP {service.spec.cluster_ip})",
    )
    if any(endpoint_ready(e) for e in endpoints):
        return []
    not_ready = [
        f"{','.join(e.addresses)} ({e.target_ref.name if e.target_ref else 'no pod'})"
        for e in endpoints
    ]
    return [
        (
            f"Service kube-dns ({service.spec.cluster_ip}) in {namespace} has no ready endpoint; "
            f"not ready: {', '.join(not_ready) or 'none at all'}"
        )
    ]


def counts_step_by_one(counts: Sequence[int | None]) -> bool:
    """The counter values rise by exactly one from each answer to the next."""
    if not counts or any(c is None for c in counts):
        return False
    return all(b == a + 1 for a, b in itertools.pairwise(counts))  # type: ignore[operator]


def counter_regressions(during: Sequence[int | None], after: Sequence[int | None]) -> list[str]:
    """Signs that the visit counter was reset: repeated values, or answers after the update
    counting no higher than answers during it."""
    problems = []
    seen = [c for c in during if c is not None]
    # Counted once, not per answer: a change under traffic gives tens of thousands of answers.
    repeated = sorted(c for c, n in Counter(seen).items() if n > 1)
    if repeated:
        problems.append(f"counts answered twice during the update: {repeated[:10]}")
    later = [c for c in after if c is not None]
    if seen and later and min(later) <= max(seen):
        problems.append(
            f"after the update the counter answered {min(later)}, not above {max(seen)}"
        )
    if len(later) != len(after):
        problems.append("some answers after the update carried no count")
    return problems
