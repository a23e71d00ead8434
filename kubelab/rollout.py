"""Rolling updates of the web pods: a ReplicationController's as kubectl did it, a Deployment's.

``rolling_update_rc`` re-implements, client-side, what ``kubectl rolling-update`` did before it
was removed in Kubernetes 1.18: a new ReplicationController named after a hash of its template,
a ``deployment`` label on selector and template telling old pods from new, scale the new one up
by one and the old one down by one (keep N available, never exceed N+1), delete the old
controller, then rename the new one back to the old name. The pods in between are watched by
``kubelab.podwatch``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from kubernetes import client

from kubelab.errors import EnvironmentProblem
from kubelab.namespace import LabNamespace
from kubelab.podwatch import PodCount, PodLife, PodWatch, running
from kubelab.states import pod_ready, rollout_status
from kubelab.waits import wait_until

__all__ = [
    "PodCount",
    "PodLife",
    "PodWatch",
    "rolling_update_deployment",
    "rolling_update_rc",
    "rollout_status",
    "running",
]

log = logging.getLogger(__name__)

DEPLOYMENT_KEY = "deployment"  # the label kubectl rolling-update used


def _with_image(template: dict[str, Any], image: str) -> dict[str, Any]:
    """A serialized pod ``template`` with every container's image set to ``image``, without the
    rolling update's own label."""
    new = copy.deepcopy(template)
    new["metadata"].get("labels", {}).pop(DEPLOYMENT_KEY, None)
    for container in new["spec"]["containers"]:
        container["image"] = image
    return new


def _something_to_roll(kind: str, name: str, template: dict[str, Any], image: str) -> None:
    """Fail at once when moving ``kind`` ``name``'s pod template to ``image`` leaves it as it is:
    no pod would be replaced, and waiting for the old pods to exit could only time out."""
    old = copy.deepcopy(template)
    old["metadata"].get("labels", {}).pop(DEPLOYMENT_KEY, None)
    if _with_image(template, image) == old:
        raise EnvironmentProblem(
            f"{kind} {name}: the new pod template equals the old one, nothing to roll: its "
            f"containers run {image} already, the image given for 2.0 (the images are wrong: "
            "--web-image-v2 names the 1.0 image, or the 2.0 image was built or tagged from 1.0)"
        )


def _template_hash(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:32]


def _rc(ns: LabNamespace, name: str) -> client.V1ReplicationController:
    found = ns.get("ReplicationController", name)
    if found is None:
        raise RuntimeError(f"ReplicationController {name} disappeared from {ns.name}")
    return found


def _delete_rc(ns: LabNamespace, name: str, propagation: str) -> None:
    """Delete RC ``name`` (Foreground: with its pods; Orphan: leaving them) and wait until gone."""
    ns.delete("ReplicationController", name, propagation)
    ns.watch_until(
        "ReplicationController",
        lambda rcs: not rcs,
        name=name,
        what=f"ReplicationController {name} to be deleted ({propagation})",
    )


def _wait_rc_ready(ns: LabNamespace, name: str, replicas: int, timeout: float) -> None:
    def ready(rcs: list[client.V1ReplicationController]) -> bool:
        s = rcs[0].status if rcs else None
        return s is not None and (s.ready_replicas or 0) == replicas == (s.replicas or 0)

    ns.watch_until(
        "ReplicationController",
        ready,
        name=name,
        timeout=timeout,
        what=f"ReplicationController {name} to have {replicas} ready replicas",
        describe=lambda rcs: (
            ", ".join(
                f"{s.replicas or 0} pods, {s.ready_replicas or 0} ready"
                for s in (r.status for r in rcs)
            )
            or "no such ReplicationController"
        ),
    )


def _wait_labels_seen(ns: LabNamespace, name: str, replicas: int) -> None:
    """Until RC ``name``'s controller has seen its template's new label on all ``replicas`` of
    its pods: its status's fullyLabeledReplicas, counted from the controller's own cache of
    pods. Its selector may then require the label: with a cache that does not show a pod's new
    label yet, the controller would release that pod and start another in its place (five web
    pods at once where the update promises four at most)."""

    def seen(rcs: list[client.V1ReplicationController]) -> bool:
        if not rcs:
            return False
        rc = rcs[0]
        return (rc.status.observed_generation or 0) >= (rc.metadata.generation or 0) and (
            rc.status.fully_labeled_replicas or 0
        ) >= replicas

    ns.watch_until(
        "ReplicationController",
        seen,
        name=name,
        timeout=ns.timeout,
        what=f"ReplicationController {name}'s controller to see the new label on its {replicas} pods",
        describe=lambda rcs: ", ".join(
            f"{r.status.fully_labeled_replicas or 0} of {r.status.replicas or 0} pods fully "
            f"labelled (generation {r.metadata.generation}, observed "
            f"{r.status.observed_generation})"
            for r in rcs
        ),
    )


def _wait_settled(ns: LabNamespace, name: str, selector: str, replicas: int) -> None:
    """Until RC ``name`` has acted on its current spec and exactly ``replicas`` pods of
    ``selector``, all ready, are left (pods shutting down not counted).

    The controller applies a new selector to its own cache of pods, which may not show every
    pod's new label yet: it then starts a pod too many and deletes one again (kubectl
    rolling-update deleted such pods after relabelling). Scaling up before that settled ran 5
    web pods at once (seen in CI). The sync that observes the new generation is the one that
    creates such a pod, so once it is observed the API lists that pod too.
    """

    def look() -> tuple[client.V1ReplicationController, list[client.V1Pod]]:
        pods = [p for p in ns.pods(selector) if p.metadata.deletion_timestamp is None]
        return _rc(ns, name), pods

    def settled(seen: tuple[client.V1ReplicationController, list[client.V1Pod]]) -> bool:
        rc, pods = seen
        observed = (rc.status.observed_generation or 0) >= (rc.metadata.generation or 0)
        return observed and len(pods) == replicas and all(pod_ready(p) for p in pods)

    wait_until(
        look,
        settled,
        timeout=ns.timeout,
        what=f"ReplicationController {name} to settle on {replicas} ready pods of {selector}",
        interval=0.1,
        describe=lambda seen: (
            f"generation {seen[0].metadata.generation} observed "
            f"{seen[0].status.observed_generation}; pods "
            + ", ".join(f"{p.metadata.name} ready={pod_ready(p)}" for p in seen[1])
        ),
    )


def rolling_update_rc(
    ns: LabNamespace,
    name: str,
    image: str,
    progress: Callable[[str], None] = log.info,
) -> str:
    """Move RC ``name`` to ``image`` as ``kubectl rolling-update`` did; return the new pods' prefix.

    Keeps ``replicas`` pods available and never runs more than ``replicas + 1``; each step
    waits up to the namespace's timeout.
    """
    old = _rc(ns, name)
    desired = old.spec.replicas
    old_template = ns.kube.serialize(old.spec.template)
    _something_to_roll("ReplicationController", name, old_template, image)

    # 1. Tell the old pods apart: label the old template, every old pod, then the old selector.
    old_hash = _template_hash(old_template)
    ns.patch(
        "ReplicationController",
        name,
        {"spec": {"template": {"metadata": {"labels": {DEPLOYMENT_KEY: old_hash}}}}},
    )
    selector = ",".join(f"{k}={v}" for k, v in old.spec.selector.items())
    for pod in ns.pods(selector):
        ns.patch("Pod", pod.metadata.name, {"metadata": {"labels": {DEPLOYMENT_KEY: old_hash}}})
    _wait_labels_seen(ns, name, desired)
    ns.patch("ReplicationController", name, {"spec": {"selector": {DEPLOYMENT_KEY: old_hash}}})
    _wait_settled(ns, name, f"{selector},{DEPLOYMENT_KEY}={old_hash}", desired)

    # 2. The new controller: same template but the image, its own hash label, zero replicas.
    new_template = _with_image(old_template, image)
    new_hash = _template_hash(new_template)
    new_name = f"{name}-{new_hash}"
    new_template["metadata"]["labels"][DEPLOYMENT_KEY] = new_hash
    new_selector = {**old.spec.selector, DEPLOYMENT_KEY: new_hash}
    new_rc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {
            "name": new_name,
            "labels": dict(old.metadata.labels or {}),
            "annotations": {"kubectl.kubernetes.io/desired-replicas": str(desired)},
        },
        "spec": {"replicas": 0, "selector": new_selector, "template": new_template},
    }
    ns.create("ReplicationController", new_rc)
    progress(f"Created {new_name}")
    progress(
        f"Scaling up {new_name} from 0 to {desired}, scaling down {name} from {desired} to 0 "
        f"(keep {desired} pods available, do not exceed {desired + 1} pods)"
    )

    # 3. One up, wait until ready, one down: available never drops below desired.
    new_count, old_count = 0, desired
    while new_count < desired or old_count > 0:
        if new_count < desired:
            new_count += 1
            progress(f"Scaling {new_name} up to {new_count}")
            ns.scale("ReplicationController", new_name, new_count)
            _wait_rc_ready(ns, new_name, new_count, timeout=ns.timeout)
        if old_count > 0:
            old_count -= 1
            progress(f"Scaling {name} down to {old_count}")
            ns.scale("ReplicationController", name, old_count)
            _wait_rc_ready(ns, name, old_count, timeout=ns.timeout)

    # 4. Delete the old controller, then rename the new one back (create under the old name,
    #    as kubectl did: delete the hashed one orphaning its pods, create it again under the old
    #    name; the pods keep running meanwhile and the renamed controller adopts them).
    progress(f"Update succeeded. Deleting old controller: {name}")
    _delete_rc(ns, name, "Foreground")
    progress(f"Renaming {new_name} to {name}")
    _delete_rc(ns, new_name, "Orphan")
    renamed = copy.deepcopy(new_rc)
    renamed["metadata"]["name"] = name
    renamed["spec"]["replicas"] = desired
    ns.create("ReplicationController", renamed)
    _wait_rc_ready(ns, name, desired, timeout=ns.timeout)
    progress(f'replicationcontroller "{name}" rolling updated')
    return new_name


def rolling_update_deployment(
    ns: LabNamespace, name: str, image: str, progress: Callable[[str], None] = log.info
) -> None:
    """Set the Deployment's image and wait until the rollout is complete (3x the ns timeout);
    each change of its status is reported as ``kubectl rollout status`` reports it."""
    deployment = ns.get("Deployment", name)
    _something_to_roll("Deployment", name, ns.kube.serialize(deployment.spec.template), image)
    containers = [
        {"name": c.name, "image": image} for c in deployment.spec.template.spec.containers
    ]
    ns.patch("Deployment", name, {"spec": {"template": {"spec": {"containers": containers}}}})
    desired = deployment.spec.replicas
    progress(f"deployment.apps/{name} image updated")
    said = [""]

    def complete(found: list[client.V1Deployment]) -> bool:
        if not found:
            return False
        d = found[0]
        now = rollout_status(d)
        if now != said[0]:
            said[0] = now
            progress(now)
        s = d.status
        return (
            (s.observed_generation or 0) >= d.metadata.generation
            and (s.updated_replicas or 0) == desired
            and (s.replicas or 0) == desired
            and (s.available_replicas or 0) == desired
        )

    ns.watch_until(
        "Deployment",
        complete,
        name=name,
        timeout=3 * ns.timeout,
        what=f"Deployment {name} to finish rolling out {image}",
        describe=lambda found: ", ".join(
            f"{d.status.updated_replicas or 0} updated, {d.status.available_replicas or 0} "
            f"available, {d.status.replicas or 0} total"
            for d in found
        ),
    )
