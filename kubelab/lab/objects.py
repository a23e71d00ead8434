"""The lab's objects in one namespace: its manifests applied, its controllers' pods, clearing."""

from __future__ import annotations

from kubernetes import client

from kubelab import causes, evidence, manifests
from kubelab.errors import EnvironmentProblem
from kubelab.images import Images
from kubelab.namespace import LabNamespace
from kubelab.waits import wait_until

# The seed's file for each object the lab creates.
POD_MANIFESTS = {"redis": "db-pod", "web": "web-pod"}
SERVICE_MANIFESTS = {"redis": "db-svc", "web": "web-svc"}
WEB_SELECTOR = "app=web"


def create_pod(ns: LabNamespace, images: Images, name: str) -> None:
    """Create the lab's ``redis`` or ``web`` pod."""
    ns.apply(manifests.render(POD_MANIFESTS[name], images))


def start_pod(ns: LabNamespace, images: Images, name: str) -> None:
    """Create the ``redis`` or ``web`` pod unless it exists (returns at once)."""
    if ns.get("Pod", name) is None:
        create_pod(ns, images, name)


def start_service(ns: LabNamespace, images: Images, name: str) -> None:
    """Create the lab's ``redis`` or ``web`` Service unless it exists (returns at once)."""
    if ns.get("Service", name) is None:
        ns.apply(manifests.render(SERVICE_MANIFESTS[name], images))


def wait_for_service_endpoints(ns: LabNamespace, name: str) -> None:
    """Wait until the Service has a ready endpoint for each pod its selector, as the cluster
    holds it, matches (the namespace's timeout: the pods behind it may still be starting); a
    selector that matches no pod fails at once, naming the selector and the pods there."""
    service = ns.get("Service", name)
    selector = causes.labels(service.spec.selector or {}) if service is not None else ""
    pods = ns.pods(selector) if selector else []
    if not pods:
        cause = causes.service_without_endpoints(ns, name)
        if cause:
            raise EnvironmentProblem(cause)
    ns.wait_for_endpoints(name, count=len(pods), timeout=ns.timeout)


def create_replication_controller(
    ns: LabNamespace, images: Images, replicas: int
) -> client.V1ReplicationController:
    """Create the ``web`` ReplicationController with ``replicas`` replicas."""
    manifest = manifests.render("web-rc", images)
    manifest["spec"]["replicas"] = replicas
    ns.apply(manifest)
    return ns.get("ReplicationController", "web")


def start_replication_controller(ns: LabNamespace, images: Images, replicas: int) -> None:
    """Create the ``web`` ReplicationController unless it exists (returns at once)."""
    if ns.get("ReplicationController", "web") is None:
        create_replication_controller(ns, images, replicas)


def start_web_under(ns: LabNamespace, images: Images, controller: str, replicas: int) -> None:
    """Create ``replicas`` web 1.0 pods' controller unless it exists (returns at once): a
    ReplicationController adopting the web pod, as in the seed, or a Deployment."""
    if controller == "ReplicationController":
        start_pod(ns, images, "web")
        start_replication_controller(ns, images, replicas)
    elif controller == "Deployment":
        if ns.get("Deployment", "web") is None:
            manifest = manifests.render("web-deployment", images)
            manifest["spec"]["replicas"] = replicas
            ns.apply(manifest)
    else:
        raise ValueError(f"no rolling update for a {controller}")


def web_pods(ns: LabNamespace) -> list[client.V1Pod]:
    """The pods the web selector matches, shutting down or not."""
    return ns.pods(WEB_SELECTOR)


def wait_for_web_pods(
    ns: LabNamespace, count: int, timeout: float | None = None
) -> list[client.V1Pod]:
    """Wait until exactly ``count`` web pods run and are ready (default: the namespace's)."""
    pods = ns.wait_for_ready_pods(WEB_SELECTOR, count, timeout=timeout)
    evidence.record(
        "the web pods, with their node, IP and controller",
        evidence.pods_table(pods, owners=True),
    )
    return pods


def wait_for_web_pod_images(ns: LabNamespace, count: int) -> dict[str, str]:
    """Once exactly ``count`` web pods are ready: each one's name and container image."""
    images = {p.metadata.name: p.spec.containers[0].image for p in wait_for_web_pods(ns, count)}
    evidence.record(
        "the web pods' images", evidence.table(["POD", "IMAGE"], sorted(images.items()))
    )
    return images


def owners_of(ns: LabNamespace, pod: str) -> list[tuple[str, str]]:
    """(kind, name) of the controllers owning pod ``pod``."""
    refs = ns.pod(pod).metadata.owner_references or []
    owners = [(ref.kind, ref.name) for ref in refs if ref.controller]
    evidence.record(
        f"the {pod} pod's controller",
        f"pod/{pod} is controlled by "
        + (", ".join(f"{kind}/{name}" for kind, name in owners) or "nothing"),
    )
    return owners


def pods_created_by(ns: LabNamespace, controller: str) -> list[str]:
    """Web pods created by ``controller`` itself: owned by it and named after it with a suffix."""
    pods = web_pods(ns)
    owned = [
        p.metadata.name
        for p in pods
        if any(ref.name == controller for ref in p.metadata.owner_references or [])
    ]
    created = sorted(
        p.metadata.name
        for p in pods
        if p.metadata.generate_name == f"{controller}-" and p.metadata.name in owned
    )
    adopted = sorted(set(owned) - set(created))
    evidence.record(
        f"the pods the ReplicationController {controller} adopted and created",
        f"adopted ({len(adopted)}): {', '.join(adopted) or '-'}\n"
        f"created ({len(created)}): {', '.join(created) or '-'}",
    )
    return created


def delete_services_rc_and_pods(ns: LabNamespace) -> None:
    """Delete as the seed does: the services, the RC, then the pods (gone already is fine)."""
    done: list[str] = []
    for kind, name in (
        ("Service", "web"),
        ("Service", "redis"),
        ("ReplicationController", "web"),
        ("Pod", "redis"),
        ("Pod", "web"),
    ):
        # the RC's deletion may have taken the web pod already
        gone = "deleted" if ns.delete(kind, name) else "was gone already"
        done.append(f'{kind.lower()} "{name}" {gone}')
    evidence.record("what was deleted, in the seed's order", "\n".join(done))


def wait_until_empty(ns: LabNamespace, timeout: float | None = None) -> list[str]:
    """Wait until nothing of the lab is left in the namespace (default: the namespace's)."""
    left = wait_until(
        ns.leftovers,
        lambda left: not left,
        timeout=timeout or ns.timeout,
        what=f"nothing of the lab left in {ns.name}",
    )
    evidence.record(
        f"what is left in namespace {ns.name}", "\n".join(left) or "No resources found."
    )
    return left
