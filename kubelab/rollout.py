"""Rolling updates of the web pods, and a watch that sees every pod state in between.

``rolling_update_rc`` re-implements, client-side, what ``kubectl rolling-update`` did before it
was removed in Kubernetes 1.18: a new ReplicationController named after a hash of its template,
a ``deployment`` label on selector and template telling old pods from new, scale the new one up
by one and the old one down by one (keep N available, never exceed N+1), delete the old
controller, then rename the new one back to the old name.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from kubelab.namespace import LabNamespace
from kubelab.states import pod_ready
from kubelab.waits import wait_until

log = logging.getLogger(__name__)

DEPLOYMENT_KEY = "deployment"  # the label kubectl rolling-update used


@dataclass(frozen=True)
class PodCount:
    """The web pods at one moment: how many exist (not shutting down) and how many are ready."""

    at: float  # wall-clock time
    running: int
    available: int


@dataclass
class PodWatch:
    """Watches pods matching a selector and records the counts after every event."""

    ns: LabNamespace
    selector: str
    counts: list[PodCount] = field(default_factory=list)
    _pods: dict[str, client.V1Pod] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def start(self) -> None:
        """List the pods, then follow every change from that point on (in a thread)."""
        pods, resource_version = self.ns.kube.list_with_version("Pod", self.ns.name, self.selector)
        self._pods = {p.metadata.name: p for p in pods}
        self._note()
        self._thread = threading.Thread(
            target=self._follow,
            args=(resource_version,),
            name="pod-watch",
            daemon=True,
        )
        self._thread.start()

    def _follow(self, resource_version: str) -> None:
        try:
            while not self._stop.is_set():
                for stream, event in self.ns.kube.watch_pods(
                    self.ns.name, self.selector, resource_version, seconds=5
                ):
                    pod = event["object"]
                    if event["type"] == "BOOKMARK":  # only carries a newer resourceVersion
                        resource_version = pod["metadata"]["resourceVersion"]
                        continue
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch error: {pod}")
                    resource_version = pod.metadata.resource_version
                    if event["type"] == "DELETED":
                        self._pods.pop(pod.metadata.name, None)
                    else:
                        self._pods[pod.metadata.name] = pod
                    self._note()
                    if self._stop.is_set():
                        stream.stop()
        except BaseException as exc:  # reported by stop(): a watch that died proves nothing
            self._error = exc

    def _note(self) -> None:
        live = [p for p in self._pods.values() if p.metadata.deletion_timestamp is None]
        self.counts.append(PodCount(time.time(), len(live), sum(1 for p in live if pod_ready(p))))

    def stop(self) -> list[PodCount]:
        """Stop watching; return every count seen. Raises if the watch broke."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"the pod watch failed: {self._error}") from self._error
        return self.counts

    @property
    def most_running(self) -> int:
        """The largest number of web pods (not shutting down) seen at once."""
        return max(c.running for c in self.counts)

    @property
    def fewest_available(self) -> int:
        """The smallest number of ready web pods seen at once."""
        return min(c.available for c in self.counts)


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
    wait_until(
        lambda: ns.get("ReplicationController", name) is None,
        bool,
        timeout=ns.timeout,
        what=f"ReplicationController {name} in {ns.name} to be deleted ({propagation})",
    )


def _wait_rc_ready(ns: LabNamespace, name: str, replicas: int, timeout: float) -> None:
    wait_until(
        lambda: _rc(ns, name).status,
        lambda s: (s.ready_replicas or 0) == replicas and (s.replicas or 0) == replicas,
        timeout=timeout,
        what=f"ReplicationController {name} in {ns.name} to have {replicas} ready replicas",
        describe=lambda s: f"{s.replicas or 0} pods, {s.ready_replicas or 0} ready",
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

    # 1. Tell the old pods apart: label the old template, every old pod, then the old selector.
    old_template = ns.kube.serialize(old.spec.template)
    old_hash = _template_hash(old_template)
    ns.patch(
        "ReplicationController",
        name,
        {"spec": {"template": {"metadata": {"labels": {DEPLOYMENT_KEY: old_hash}}}}},
    )
    selector = ",".join(f"{k}={v}" for k, v in old.spec.selector.items())
    for pod in ns.pods(selector):
        ns.patch("Pod", pod.metadata.name, {"metadata": {"labels": {DEPLOYMENT_KEY: old_hash}}})
    ns.patch("ReplicationController", name, {"spec": {"selector": {DEPLOYMENT_KEY: old_hash}}})

    # 2. The new controller: same template but the image, its own hash label, zero replicas.
    new_template = copy.deepcopy(old_template)
    new_template["metadata"]["labels"].pop(DEPLOYMENT_KEY, None)
    for container in new_template["spec"]["containers"]:
        container["image"] = image
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


def rolling_update_deployment(ns: LabNamespace, name: str, image: str) -> None:
    """Set the Deployment's image and wait until the rollout is complete (3x the ns timeout)."""
    deployment = ns.get("Deployment", name)
    containers = [
        {"name": c.name, "image": image} for c in deployment.spec.template.spec.containers
    ]
    ns.patch("Deployment", name, {"spec": {"template": {"spec": {"containers": containers}}}})
    desired = deployment.spec.replicas

    def complete(d: client.V1Deployment) -> bool:
        s = d.status
        return (
            (s.observed_generation or 0) >= d.metadata.generation
            and (s.updated_replicas or 0) == desired
            and (s.replicas or 0) == desired
            and (s.available_replicas or 0) == desired
        )

    wait_until(
        lambda: ns.get("Deployment", name),
        complete,
        timeout=3 * ns.timeout,
        what=f"Deployment {name} in {ns.name} to finish rolling out {image}",
        describe=lambda d: (
            f"{d.status.updated_replicas or 0} updated, {d.status.available_replicas or 0} available, "
            f"{d.status.replicas or 0} total"
        ),
    )
