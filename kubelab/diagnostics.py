"""What a failing step needs to explain itself: events, pod states, logs, node containers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from kubernetes.client.rest import ApiException

from kubelab.client import Kube
from kubelab.errors import KubelabError
from kubelab.namespace import LabNamespace
from kubelab.states import is_ready

log = logging.getLogger(__name__)

LOG_LINES = 20


class NodeRuntimes(Protocol):
    """What diagnostics ask of a cluster provider (kubelab.cluster.base.Provider has both)."""

    def node_containers(self, node_name: str) -> list[str]:
        """Names of the containers the node's runtime runs."""
        ...

    def logs_hint(self) -> str:
        """Where to look for the cluster's own logs."""
        ...


def _guarded(title: str, produce: Callable[[], list[str]]) -> str:
    try:
        lines = produce()
    except (ApiException, KubelabError, OSError, ValueError) as exc:
        lines = [
            f"(could not read: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ]
    body = "\n".join(f"  {line}" for line in lines) if lines else "  (none)"
    return f"{title}:\n{body}"


def events(ns: LabNamespace) -> list[str]:
    """The namespace's events, oldest first, one line each."""
    items = ns.objects("Event")

    def when(e: object) -> str:
        stamp = getattr(e, "last_timestamp", None) or getattr(e, "event_time", None)
        return stamp.isoformat() if stamp else ""

    return [
        f"{when(e)[11:19]} {e.type:<7} {e.reason:<18} {e.involved_object.kind.lower()}/"
        f"{e.involved_object.name}: {(e.message or '').strip()}"
        for e in sorted(items, key=when)
    ]


def pods(ns: LabNamespace) -> list[str]:
    """Each pod's phase, node, conditions, and each container's state and restarts."""
    lines = []
    for pod in ns.pods():
        conditions = ",".join(f"{c.type}={c.status}" for c in pod.status.conditions or [])
        deleting = " (shutting down)" if pod.metadata.deletion_timestamp else ""
        lines.append(
            f"pod/{pod.metadata.name} {pod.status.phase}{deleting} on {pod.spec.node_name or '-'} "
            f"ip {pod.status.pod_ip or '-'} [{conditions}]"
        )
        for status in pod.status.container_statuses or []:
            state = status.state
            if state.waiting:
                now = f"waiting {state.waiting.reason}: {state.waiting.message or ''}".rstrip(": ")
            elif state.terminated:
                now = f"terminated {state.terminated.reason} exit {state.terminated.exit_code}"
            else:
                now = "running"
            lines.append(
                f"  container {status.name} image {status.image} {now}, ready={status.ready}, "
                f"restarts={status.restart_count}"
            )
    return lines


def container_logs(ns: LabNamespace, tail: int = LOG_LINES) -> list[str]:
    """The last ``tail`` lines of each container's log."""
    lines = []
    for pod in ns.pods():
        for container in pod.spec.containers:
            try:
                text = ns.kube.pod_log(ns.name, pod.metadata.name, container.name, tail)
            except ApiException as exc:
                text = f"(no log: {exc.status} {exc.reason})"
            lines.append(f"--- {pod.metadata.name}/{container.name}")
            lines.extend(str(text).rstrip().splitlines() or ["(empty)"])
    return lines


def node_containers(ns: LabNamespace, provider: NodeRuntimes) -> list[str]:
    """What the runtime of each node hosting the namespace's pods runs, where the provider can tell."""
    lines = []
    for node in sorted({p.spec.node_name for p in ns.pods() if p.spec.node_name}):
        try:
            listing = provider.node_containers(node)
        except KubelabError as exc:
            return [f"({exc})"]
        lines.append(f"{node}: {', '.join(listing) or '(none)'}")
    return lines


def nodes(kube: Kube) -> list[str]:
    """Each node's readiness, taints and versions."""
    return [
        f"{n.metadata.name} Ready={is_ready(n)} taints={[t.key for t in n.spec.taints or []]} "
        f"kubelet={getattr(n.status.node_info, 'kubelet_version', None)}"
        for n in kube.nodes()
    ]


def collect(kube: Kube, provider: NodeRuntimes, ns: LabNamespace | None) -> str:
    """Everything above as one text block, each part guarded so one failure hides nothing else."""
    parts = [_guarded("nodes", lambda: nodes(kube))]
    if ns is not None:
        parts += [
            _guarded(f"events in {ns.name}", lambda: events(ns)),
            _guarded(f"pods in {ns.name}", lambda: pods(ns)),
            _guarded(f"container logs (last {LOG_LINES} lines)", lambda: container_logs(ns)),
            _guarded("containers on the nodes' runtimes", lambda: node_containers(ns, provider)),
        ]
    hint = provider.logs_hint()
    if hint:
        parts.append(hint)
    return "\n".join(parts)
