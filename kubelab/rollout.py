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
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from kubernetes import client

from kubelab.errors import WaitTimeout
from kubelab.namespace import LabNamespace
from kubelab.states import pod_ready
from kubelab.waits import wait_until
from kubelab.watching import Follower

log = logging.getLogger(__name__)

DEPLOYMENT_KEY = "deployment"  # the label kubectl rolling-update used


@dataclass(frozen=True)
class PodCount:
    """The web pods at one moment: how many run (not shutting down, not scaled away: see
    ``running``) and how many are ready."""

    at: float  # wall-clock time
    running: int
    available: int


@dataclass
class PodLife:
    """When the watch first saw one pod start, become ready, begin shutting down, and exit
    (wall-clock times; None: not seen while watching)."""

    name: str
    image: str
    before: bool = False  # already there when the watch began
    started: float | None = None
    ready: float | None = None
    stopping: float | None = None
    exited: float | None = None
    grace: int | None = None  # the grace period it was given when asked to stop (s)

    def see(self, pod: client.V1Pod | None, now: float) -> None:
        """Note what ``pod`` shows at ``now`` (None: it is gone from the API)."""
        if pod is None or _exited(pod):
            self.exited = self.exited or now
            return
        if not self.before and self.started is None and _running(pod):
            self.started = now
        if not self.before and self.ready is None and pod_ready(pod):
            self.ready = now
        if self.stopping is None and pod.metadata.deletion_timestamp is not None:
            self.stopping = now
            self.grace = pod.metadata.deletion_grace_period_seconds


def _image(pod: client.V1Pod) -> str:
    containers = pod.spec.containers if pod.spec else None
    return str(containers[0].image) if containers else "<unknown>"


def _exited(pod: client.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(s.state and s.state.terminated for s in statuses)


def _running(pod: client.V1Pod) -> bool:
    return any(s.state and s.state.running for s in pod.status.container_statuses or [])


Owner = tuple[str, str]  # the controlling owner's kind and uid


def _owner(pod: client.V1Pod) -> Owner | None:
    for ref in pod.metadata.owner_references or []:
        if ref.controller and ref.kind in ("ReplicaSet", "ReplicationController"):
            return str(ref.kind), str(ref.uid)
    return None


def running(live: list[client.V1Pod], wanted: dict[Owner, int], most: dict[Owner, int]) -> int:
    """How many of the ``live`` pods (none shutting down) run, not counting pods scaled away:
    pods beyond what their controller now asks for (``wanted``), up to how far it was scaled
    down from the most it asked for while watched (``most``).

    Upstream's Deployment controller counts its surge in ReplicaSet sizes, not pods: it lowers
    the old ReplicaSet, then raises the new one, and the ReplicaSet controller may create the
    new pod a moment before it marks the old one for deletion. Such an old pod is scaled away,
    not running. A controller that starts a pod beyond what it asks for is never excused.
    """
    owned = Counter(_owner(p) for p in live)
    away = sum(
        max(0, min(n, most.get(owner, n)) - wanted.get(owner, n))
        for owner, n in owned.items()
        if owner is not None
    )
    return len(live) - away


@dataclass
class PodWatch:
    """Watches pods matching a selector and records the counts after every event, when each
    pod started, became ready and exited, and when the pods there at the start (the old ones)
    have all exited."""

    ns: LabNamespace
    selector: str
    counts: list[PodCount] = field(default_factory=list)
    old: frozenset[str] = frozenset()  # the pods there when the watch began
    last_old_exit: float | None = None  # wall-clock time the last of them was gone
    lives: dict[str, PodLife] = field(default_factory=dict)
    wanted: dict[Owner, int] = field(default_factory=dict)  # each controller's replicas now
    most_wanted: dict[Owner, int] = field(default_factory=dict)  # and the most while watched
    busiest: str = ""  # the pods, by controller, when the most ran
    _names: dict[Owner, str] = field(default_factory=dict)
    _follower: Follower | None = None
    _thread: threading.Thread | None = None
    _error: BaseException | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> None:
        """List the pods, then follow every change from that point on (in a thread)."""
        self._follower = self.ns.kube.follower("Pod", self.ns.name, self.selector)
        changes = self._follower.changes(deadline=math.inf)
        first = next(changes)
        self.old = frozenset(p.metadata.name for p in first)
        self._ask_owners(first)
        for pod in first:  # started and ready before the watch: times unknown (None)
            self.lives[pod.metadata.name] = PodLife(pod.metadata.name, _image(pod), before=True)
        self._note(self._follower.snapshot())
        self._thread = threading.Thread(
            target=self._follow, args=(changes,), name="pod-watch", daemon=True
        )
        self._thread.start()

    def _follow(self, changes: Iterator[list[client.V1Pod]]) -> None:
        try:
            for pods in changes:
                self._note(pods)
        except BaseException as exc:  # noqa: BLE001  (re-raised by stop(): a dead watch proves nothing)
            self._error = exc
        finally:
            with self._changed:
                self._changed.notify_all()

    def _note(self, pods: list[client.V1Pod]) -> None:
        now = time.time()
        live = [p for p in pods if p.metadata.deletion_timestamp is None]
        owned = Counter(_owner(p) for p in live)
        if any(o and n > self.wanted.get(o, 0) for o, n in owned.items()):
            self._ask_owners(live)  # asked after the pods were seen: as new as they are, or newer
        count = running(live, self.wanted, self.most_wanted)
        busiest = not self.counts or count > self.most_running
        shown = self._by_controller(live) if busiest or count < len(live) else ""
        if count < len(live):
            log.info("%d web pods, %d scaled away: %s", len(live), len(live) - count, shown)
        with self._changed:
            if busiest:
                self.busiest = shown
            self.counts.append(PodCount(now, count, sum(1 for p in live if pod_ready(p))))
            present = {p.metadata.name: p for p in pods}
            for pod in pods:
                self.lives.setdefault(pod.metadata.name, PodLife(pod.metadata.name, _image(pod)))
            for name, life in self.lives.items():
                life.see(present.get(name), now)
            if self.last_old_exit is None and not self._old_left(pods):
                self.last_old_exit = now
            self._changed.notify_all()

    def _ask_owners(self, pods: list[client.V1Pod]) -> None:
        """Learn how many pods each controller of ``pods`` asks for now."""
        for kind in sorted({o[0] for o in map(_owner, pods) if o is not None}):
            for controller in self.ns.objects(kind):
                owner = (kind, str(controller.metadata.uid))
                self._names[owner] = f"{kind} {controller.metadata.name}"
                replicas = controller.spec.replicas or 0
                self.wanted[owner] = replicas
                self.most_wanted[owner] = max(replicas, self.most_wanted.get(owner, 0))

    def _by_controller(self, live: list[client.V1Pod]) -> str:
        groups: dict[Owner | None, list[str]] = {}
        for pod in live:
            groups.setdefault(_owner(pod), []).append(pod.metadata.name)
        return "; ".join(
            (
                f"{self._names.get(owner, owner[0])} asking for {self.wanted.get(owner, '?')}"
                if owner
                else "no controller"
            )
            + f": {', '.join(sorted(names))}"
            for owner, names in groups.items()
        )

    def _old_left(self, pods: list[client.V1Pod]) -> list[str]:
        return sorted(self.old & {p.metadata.name for p in pods})

    def wait_until_old_pods_exit(self, timeout: float) -> float:
        """Wait until every pod there at the start has exited (is gone from the API: the kubelet
        saw its containers stop); return when the last one went (wall-clock time)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.last_old_exit is None:
                left = deadline - time.monotonic()
                if self._error is not None or (self._thread and not self._thread.is_alive()):
                    raise RuntimeError(f"the pod watch failed: {self._error}") from self._error
                if left <= 0:
                    pods = self._follower.snapshot() if self._follower else []
                    raise WaitTimeout(
                        f"the old web pods in {self.ns.name} to exit: not reached within "
                        f"{timedelta(seconds=round(timeout))}; left: {self._old_left(pods)}"
                    )
                self._changed.wait(left)
            return self.last_old_exit

    def stop(self) -> list[PodCount]:
        """Stop watching (at once); return every count seen. Raises if the watch broke."""
        if self._follower is not None:
            self._follower.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"the pod watch failed: {self._error}") from self._error
        return self.counts

    @property
    def most_running(self) -> int:
        """The largest number of web pods running (not shutting down, not scaled away) at once."""
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
    _wait_settled(ns, name, f"{selector},{DEPLOYMENT_KEY}={old_hash}", desired)

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


def rolling_update_deployment(
    ns: LabNamespace, name: str, image: str, progress: Callable[[str], None] = log.info
) -> None:
    """Set the Deployment's image and wait until the rollout is complete (3x the ns timeout);
    each change of its status is reported as ``kubectl rollout status`` reports it."""
    deployment = ns.get("Deployment", name)
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
