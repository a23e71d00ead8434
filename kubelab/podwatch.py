"""A watch on the pods a selector matches: the counts after every event, each pod's life, and
when the pods there at the start (the old ones) have all exited."""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from kubernetes import client

from kubelab.errors import WaitTimeout
from kubelab.namespace import LabNamespace
from kubelab.states import pod_ready
from kubelab.waits import SHORT, wait_until
from kubelab.watching import Follower

log = logging.getLogger(__name__)


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
        """Learn how many pods each controller of ``pods`` asks for now (an API error that
        waiting may cure is asked again, for up to 30 s: it must not end the watch)."""
        for kind in sorted({o[0] for o in map(_owner, pods) if o is not None}):
            controllers = wait_until(
                functools.partial(self.ns.objects, kind),
                lambda _: True,
                timeout=SHORT,
                what=f"the {kind}s in {self.ns.name}",
            )
            for controller in controllers:
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
            self._thread.join(timeout=SHORT)
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
