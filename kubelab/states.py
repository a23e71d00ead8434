"""Reading the state of nodes and pods as the API reports it (no API calls here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from kubelab.errors import EnvironmentProblem
from kubelab.names import CONTROL_PLANE_KEYS, LOCAL_REGISTRY

# A scheduler marks a pod PodScheduled (True, or False: unschedulable) within a second; none
# at all after this long means no scheduler acts.
SCHEDULE_GRACE = 20.0
# A wait that times out sooner (--wait-timeout down to 10 s) still names the missing attempt
# of a pod this old.
SCHEDULE_HINT = 5.0
NO_SCHEDULER = "no scheduler is acting on the pod; is kube-scheduler running?"

# Waiting reasons that waiting longer will not cure.
IMAGE_PROBLEMS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
RUN_PROBLEMS = (
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)
# The kubelet lists at most this many images in a node's status (its nodeStatusMaxImages): a
# node listing this many may have more.
NODE_STATUS_MAX_IMAGES = 50


def _condition(obj: Any, kind: str) -> Any:
    return next((c for c in obj.status.conditions or [] if c.type == kind), None)


def is_ready(node: client.V1Node) -> bool:
    """The node's Ready condition is True."""
    ready = _condition(node, "Ready")
    return ready is not None and ready.status == "True"


def not_ready_reason(node: client.V1Node) -> str:
    """Why a node is not Ready, as its Ready condition says: status, reason and message."""
    ready = _condition(node, "Ready")
    if ready is None:
        return f"node {node.metadata.name} not Ready: it reports no Ready condition"
    return (
        f"node {node.metadata.name} not Ready ({ready.status}): "
        f"{ready.reason or 'no reason'}, {(ready.message or 'no message').strip()}"
    )


def is_control_plane(node: client.V1Node) -> bool:
    """The node carries a control-plane role label or taint."""
    labels = node.metadata.labels or {}
    taints = [t.key for t in node.spec.taints or []]
    return any(key in labels or key in taints for key in CONTROL_PLANE_KEYS)


def takes_no_workload(node: client.V1Node) -> bool:
    """Ordinary pods cannot be scheduled on the node (cordoned, or tainted NoSchedule)."""
    taints = node.spec.taints or []
    return bool(node.spec.unschedulable) or any(
        t.effect in ("NoSchedule", "NoExecute") for t in taints
    )


def internal_ip(node: client.V1Node) -> str:
    """The node's InternalIP address."""
    for address in node.status.addresses or []:
        if address.type == "InternalIP":
            return str(address.address)
    raise EnvironmentProblem(f"node {node.metadata.name} reports no InternalIP address")


def pod_ready(pod: client.V1Pod) -> bool:
    """The pod runs and its Ready condition is True."""
    ready = _condition(pod, "Ready")
    return pod.status.phase == "Running" and ready is not None and ready.status == "True"


def describe_pods(pods: list[client.V1Pod]) -> str:
    """One line per pod: name, phase, readiness, and why it waits (container or scheduling)."""
    if not pods:
        return "no pods"
    parts = []
    for pod in pods:
        waiting = [
            f"{s.name} {s.state.waiting.reason}"
            for s in pod.status.container_statuses or []
            if s.state and s.state.waiting
        ]
        scheduled = _condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.status != "True":
            waiting.append(f"unschedulable: {scheduled.message or scheduled.reason}")
        waited = _unscheduled_for(pod)
        if waited is not None and waited >= SCHEDULE_HINT:
            waiting.append(f"no scheduling attempt in {waited:.0f} s: {NO_SCHEDULER}")
        ready = "ready" if pod_ready(pod) else "not ready"
        extra = f" ({', '.join(waiting)})" if waiting else ""
        parts.append(f"{pod.metadata.name} {pod.status.phase} {ready}{extra}")
    return "; ".join(parts)


def _unscheduled_for(pod: client.V1Pod) -> float | None:
    """Seconds a pod has waited with no scheduling attempt at all (no node, no PodScheduled
    condition), else None."""
    created = pod.metadata.creation_timestamp
    if pod.spec.node_name or _condition(pod, "PodScheduled") is not None or created is None:
        return None
    return (datetime.now(UTC) - created).total_seconds()


def scheduling_problem(pods: list[client.V1Pod], grace: float = SCHEDULE_GRACE) -> str | None:
    """A one-line explanation when a pod has waited ``grace`` seconds without any scheduling
    attempt (no PodScheduled condition at all: no scheduler is acting), else None."""
    for pod in pods:
        waited = _unscheduled_for(pod)
        if waited is not None and waited >= grace:
            return (
                f"pod {pod.metadata.name} {pod.status.phase}: no scheduling attempt in "
                f"{waited:.0f} s ({NO_SCHEDULER})"
            )
    return None


def stuck(pods: list[client.V1Pod]) -> str | None:
    """Why waiting longer for these pods cannot help (image, container, scheduler), else None."""
    return image_problem(pods) or scheduling_problem(pods)


def image_problem(pods: list[client.V1Pod]) -> str | None:
    """A one-line explanation when a pod's image is missing or its container cannot run, else None."""
    for pod in pods:
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting is None:
                continue
            if waiting.reason in IMAGE_PROBLEMS:
                return (
                    f"image {status.image} of pod {pod.metadata.name} cannot be found on node "
                    f"{pod.spec.node_name} ({waiting.reason}); load it on every node or name another "
                    "with --web-image/--web-image-v2/--redis-image"
                )
            if waiting.reason in RUN_PROBLEMS:
                detail = (waiting.message or "").strip().splitlines()[:1]
                return (
                    f"container {status.name} of pod {pod.metadata.name} cannot run on node "
                    f"{pod.spec.node_name} ({waiting.reason}{': ' + detail[0] if detail else ''}); "
                    "see its log in the diagnostics"
                )
    return None


def endpoint_ready(endpoint: Any) -> bool:
    """An EndpointSlice endpoint counts as ready unless ``ready`` is false (null means ready)."""
    return endpoint.conditions is None or endpoint.conditions.ready is not False


def rollout_status(d: client.V1Deployment) -> str:
    """What ``kubectl rollout status`` says of the Deployment ``d`` now (its own words)."""
    s, name = d.status, d.metadata.name
    if (s.observed_generation or 0) < d.metadata.generation:
        return "Waiting for deployment spec update to be observed..."
    updated, total = s.updated_replicas or 0, s.replicas or 0
    if updated < d.spec.replicas:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of '
            f"{d.spec.replicas} new replicas have been updated..."
        )
    if total > updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas '
            "are pending termination..."
        )
    if (s.available_replicas or 0) < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {s.available_replicas or 0} of '
            f"{updated} updated replicas are available..."
        )
    return f'deployment "{name}" successfully rolled out'


def images_never_pulled(nodes: list[client.V1Node], refs: list[str]) -> str | None:
    """A one-line explanation when an image under kubelab.local/ (kubelab's own name for the
    images it builds, which no registry serves) is absent from a node that takes workload, else
    None. A node whose status may list only some of its images is not judged."""
    own = sorted({ref for ref in refs if ref.startswith(f"{LOCAL_REGISTRY}/")})
    lacking: dict[str, list[str]] = {}
    for node in nodes:
        listed = node.status.images or []
        if takes_no_workload(node) or len(listed) >= NODE_STATUS_MAX_IMAGES:
            continue
        names = {name for image in listed for name in image.names or []}
        missing = [ref for ref in own if ref not in names]
        if missing:
            lacking[node.metadata.name] = missing
    if not lacking:
        return None
    first, *others = lacking
    return (
        f"the lab's image {lacking[first][0]} is not on node {first}"
        + (f" (nor on {', '.join(others)})" if others else "")
        + f", and no registry serves {LOCAL_REGISTRY}: push the images where the nodes pull from "
        "(`kubelab images push REGISTRY` prints the --web-image, --web-image-v2 and "
        "--redis-image to give) or load them on every node"
    )
