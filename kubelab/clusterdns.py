"""The cluster DNS add-on as kubeadm installs it: the ``coredns`` Deployment in kube-system
behind the ``kube-dns`` Service. Its image set, as ``kubeadm upgrade apply`` does, and the
rollout waited for until the Service's ready endpoints are the new pods, all of them."""

from __future__ import annotations

from typing import Any

from kubelab.client import Kube
from kubelab.states import endpoint_ready, pod_ready
from kubelab.waits import LONG, wait_until

NAMESPACE = "kube-system"
DEPLOYMENT = "coredns"
SERVICE = "kube-dns"
SELECTOR = "k8s-app=kube-dns"


def set_coredns_image(kube: Kube, image: str) -> None:
    """Set the image of the coredns Deployment's containers (a rolling update; returns at once)."""
    deployment = kube.get("Deployment", DEPLOYMENT, NAMESPACE)
    containers = [
        {"name": c.name, "image": image} for c in deployment.spec.template.spec.containers
    ]
    kube.patch(
        "Deployment",
        DEPLOYMENT,
        {"spec": {"template": {"spec": {"containers": containers}}}},
        NAMESPACE,
    )


def rollout_problems(deployment: Any, pods: list[Any], slices: list[Any], image: str) -> list[str]:
    """What keeps the coredns rollout to ``image`` from being done (none: done): the Deployment
    not all updated, ready and available; a live pod on another image or not ready; the kube-dns
    Service's ready endpoints not exactly the new pods."""
    if deployment is None:
        return [f"no Deployment {DEPLOYMENT} in {NAMESPACE}"]
    wanted = deployment.spec.replicas or 0
    s = deployment.status
    problems = [
        f"Deployment {DEPLOYMENT} runs {c.image}"
        for c in deployment.spec.template.spec.containers
        if c.image != image
    ]
    if (s.observed_generation or 0) < deployment.metadata.generation:
        problems.append(f"Deployment {DEPLOYMENT}: its new spec not yet observed")
    counts = {
        "updated": s.updated_replicas or 0,
        "ready": s.ready_replicas or 0,
        "available": s.available_replicas or 0,
        "in all": s.replicas or 0,
    }
    if any(count != wanted for count in counts.values()):
        problems.append(
            f"Deployment {DEPLOYMENT}: {wanted} replicas wanted, "
            + ", ".join(f"{count} {what}" for what, count in counts.items())
        )
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    new = {p.metadata.name for p in live if _images(p) == {image} and pod_ready(p)}
    problems += [
        f"pod {p.metadata.name}: {', '.join(sorted(_images(p)))}, "
        f"{'ready' if pod_ready(p) else 'not ready'}"
        for p in sorted(live, key=lambda p: p.metadata.name)
        if p.metadata.name not in new
    ]
    serving = {
        e.target_ref.name if e.target_ref else ",".join(e.addresses)
        for s in slices
        for e in s.endpoints or []
        if endpoint_ready(e)
    }
    if serving != new or len(new) != wanted:
        problems.append(
            f"Service {SERVICE}'s ready endpoints: {', '.join(sorted(serving)) or 'none'}; "
            f"the new ready pods: {', '.join(sorted(new)) or 'none'}"
        )
    return problems


def wait_for_coredns(kube: Kube, image: str, timeout: float = LONG) -> None:
    """Wait until the coredns Deployment has rolled out ``image``: every replica updated and
    ready, and the kube-dns Service's ready endpoints exactly those pods (default 300 s)."""

    def look() -> list[str]:
        return rollout_problems(
            kube.get("Deployment", DEPLOYMENT, NAMESPACE),
            kube.objects("Pod", NAMESPACE, SELECTOR),
            kube.objects("EndpointSlice", NAMESPACE, f"kubernetes.io/service-name={SERVICE}"),
            image,
        )

    wait_until(
        look,
        lambda problems: not problems,
        timeout=timeout,
        what=f"CoreDNS to roll out {image}",
        interval=0.5,
        describe="; ".join,
    )


def not_running(kube: Kube, image: str) -> list[str]:
    """The coredns Deployment and each of its live pods not on ``image``, with what they run."""
    deployment = kube.get("Deployment", DEPLOYMENT, NAMESPACE)
    if deployment is None:
        return [f"no Deployment {DEPLOYMENT} in {NAMESPACE}"]
    wrong = [
        f"the Deployment {DEPLOYMENT} runs {c.image}"
        for c in deployment.spec.template.spec.containers
        if c.image != image
    ]
    pods = kube.objects("Pod", NAMESPACE, SELECTOR)
    return wrong + [
        f"pod {p.metadata.name} runs {', '.join(sorted(_images(p)))}"
        for p in sorted(pods, key=lambda p: p.metadata.name)
        if p.metadata.deletion_timestamp is None and _images(p) != {image}
    ]


def _images(pod: Any) -> set[str]:
    return {c.image for c in pod.spec.containers}
