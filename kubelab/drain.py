"""Cordon, drain and uncordon a node as ``kubectl drain`` does: every pod through the eviction
API, which honours PodDisruptionBudgets (a 429 answer: not now, ask again)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

from kubelab.client import Kube
from kubelab.errors import WaitTimeout
from kubelab.waits import LONG, SHORT, wait_until

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = 429  # the eviction would break a PodDisruptionBudget: ask again later
EVICT_AGAIN = 1.0  # kubectl drain asks again every 5 s; a second keeps an upgrade short


@dataclass(frozen=True)
class DrainPlan:
    """The pods on a node: those to evict, and those left in place (with why)."""

    evict: list[tuple[str, str]]  # (namespace, name)
    kept: list[tuple[str, str, str]]  # (namespace, name, why)


def _controller(pod: client.V1Pod) -> str | None:
    refs = [r for r in pod.metadata.owner_references or [] if r.controller]
    return str(refs[0].kind) if refs else None


def plan_drain(pods: list[client.V1Pod]) -> DrainPlan:
    """What a drain does with ``pods`` (all on one node): a DaemonSet's or a static pod stays
    (kubectl drain ignores them); so does a bare pod, which nothing would recreate (kubectl drain
    refuses it without --force): it stays in place while its node is upgraded; finished pods are
    left alone; the rest is evicted."""
    evict, kept = [], []
    for pod in sorted(pods, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        key = (pod.metadata.namespace, pod.metadata.name)
        owner = _controller(pod)
        if pod.status.phase in ("Succeeded", "Failed"):
            kept.append((*key, f"{pod.status.phase}"))
        elif owner in ("DaemonSet", "Node"):
            kept.append((*key, f"{owner} pod"))
        elif owner is None:
            kept.append((*key, "bare pod: nothing would recreate it, kept in place"))
        else:
            evict.append(key)
    return DrainPlan(evict, kept)


def set_unschedulable(kube: Kube, node: str, unschedulable: bool) -> None:
    """Cordon (True) or uncordon (False) ``node``."""
    kube.patch("Node", node, {"spec": {"unschedulable": unschedulable or None}})


def pods_on(kube: Kube, node: str) -> list[client.V1Pod]:
    """Every pod bound to ``node``, in every namespace."""
    return list(
        kube.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}", _request_timeout=SHORT
        ).items
    )


def evict(kube: Kube, namespace: str, name: str) -> bool:
    """Ask the eviction API to evict a pod: True when accepted (or gone already), False when a
    PodDisruptionBudget refuses it now (429)."""
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=namespace))
    try:
        kube.core.create_namespaced_pod_eviction(name, namespace, body, _request_timeout=SHORT)
    except ApiException as exc:
        if exc.status == TOO_MANY_REQUESTS:
            return False
        if exc.status == 404:
            return True
        raise
    return True


def drain(
    kube: Kube, node: str, say: Callable[[str], None] = log.info, timeout: float = LONG
) -> DrainPlan:
    """Evict every pod of ``node`` that ``plan_drain`` evicts, each asked again while its budget
    refuses, and wait until they are gone from the node (``timeout`` for all of it)."""
    found = plan_drain(pods_on(kube, node))
    for ns, name, why in found.kept:
        say(f"{node}: leaving {ns}/{name} in place ({why})")
    deadline = time.monotonic() + timeout
    for ns, name in found.evict:
        refused = 0
        while not evict(kube, ns, name):
            refused += 1
            if refused == 1:
                say(f"{node}: evicting {ns}/{name} would break its PodDisruptionBudget; waiting")
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"evicting {ns}/{name} from {node}: its PodDisruptionBudget refused it "
                    f"{refused} times within {timeout:.0f} s"
                )
            time.sleep(EVICT_AGAIN)
        say(f"{node}: evicted {ns}/{name}")
    evicted = set(found.evict)
    wait_until(
        lambda: [
            f"{p.metadata.namespace}/{p.metadata.name}"
            for p in pods_on(kube, node)
            if (p.metadata.namespace, p.metadata.name) in evicted
        ],
        lambda left: not left,
        timeout=max(1.0, deadline - time.monotonic()),
        what=f"the pods evicted from {node} to be gone",
        interval=0.5,
    )
    return found
