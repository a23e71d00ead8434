"""The change chapter: the lab's app in its final form, traffic on every node's address, and a
change of the cluster meanwhile; what the traffic and a watch of the web pods saw.

A change is the user's own command (``--change``) or one kubelab makes on its local cluster
(``kubelab.changes``). Each reports what it does, node by node, as steps with a start and an
end (``Progress``): a failed request is named with the node it went to and the steps then in
progress.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubernetes import client

from kubelab import console, evidence, manifests, rollout, timeline, traffic
from kubelab.containers import Container, containers
from kubelab.http import Answer
from kubelab.lab import Lab
from kubelab.lab.asking import ask_through_node_port, node_addresses
from kubelab.lab.objects import WEB_SELECTOR
from kubelab.lab.rolling import version_of
from kubelab.timeline import Band
from kubelab.waits import SHORT

log = logging.getLogger(__name__)

# The changes the chapter knows, by the name ``--cluster-change`` gives them, and the When step
# of the scenario that runs each (the plugin keeps only the scenario of the change asked for).
WHEN = {
    "command": "I run the change given on the command line while traffic flows on every node",
    "runtime-restart": (
        "I restart every node's container runtime, node by node, while traffic flows on every node"
    ),
    "upgrade": "I upgrade the cluster one minor release in place while traffic flows on every node",
    "proxy-mode": (
        "I switch every node's kube-proxy from iptables to nftables, node by node, while traffic "
        "flows on every node"
    ),
}
KINDS = tuple(WHEN)
# The lines a change left for the user (Progress.alert), in its reports directory.
STOPPED = "change-stopped.txt"
MIN_AVAILABLE = 2  # the web PodDisruptionBudget's minAvailable, as in manifests/web-pdb.yml
# What a change run leaves in its reports for ``kubelab gate`` to read back: JUnit properties
# of the change scenario (its summary line; the change's error, if any) and the title of the
# evidence block under its When step that lists each failed request, one a line.
SUMMARY_PROPERTY = "change"
ERROR_PROPERTY = "change-error"
FAILED_REQUESTS = (
    "each failed request: when (s since the traffic started), the node it went to, the steps of "
    "the change then in progress, the error"
)
HOSTNAME_KEY = "kubernetes.io/hostname"


def stopped(reports: Path) -> list[str]:
    """What a change run in ``reports`` left for the user to know (Progress.alert), if any."""
    kept = reports / STOPPED
    return kept.read_text().splitlines() if kept.is_file() else []


def kind_of(step_names: list[str]) -> str | None:
    """The change a scenario runs, from its steps' texts (None: not a change scenario)."""
    return next((kind for kind, text in WHEN.items() if text in step_names), None)


@dataclass
class Progress:
    """What a change does, step by step: each step's band, and what was printed; ``alerts``
    also go to ``reports``/STOPPED when a reports directory is given."""

    bands: list[Band] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    reports: Path | None = None
    _open: dict[tuple[str, str], float] = field(default_factory=dict)

    def say(self, line: str) -> None:
        """Note a line of the change's progress (time-stamped, also logged)."""
        log.info("%s", line)
        self.lines.append(f"{evidence.clock(time.time())}  {line}")

    def alert(self, line: str) -> None:
        """A line the user must see also when the change was interrupted (the state it left the
        cluster in): noted, printed on stderr, and kept in the reports directory, where
        ``kubelab gate`` finds it (pytest shows nothing a test printed when it is interrupted)."""
        self.say(line)
        self.alerts.append(line)
        console.say(f"kubelab: {line}", sys.stderr)
        if self.reports is not None:
            self.reports.mkdir(parents=True, exist_ok=True)
            with (self.reports / STOPPED).open("a") as kept:
                kept.write(line + "\n")

    @contextmanager
    def step(self, node: str, what: str) -> Iterator[None]:
        """A step of the change on ``node``; its band ends when the block does (also on error)."""
        start = time.time()
        self._open[(node, what)] = start
        self.say(f"{node}: {what}")
        finished = False
        try:
            yield
            finished = True
        finally:
            del self._open[(node, what)]
            self.bands.append(Band(node, what, start, time.time()))
            ended = "done" if finished else "stopped (failed or interrupted)"
            self.say(f"{node}: {what} {ended} after {time.time() - start:.1f} s")

    def during(self, moment: float) -> list[str]:
        """The steps in progress at ``moment`` (wall clock), as ``node: step``."""
        done = [b for b in self.bands if b.start <= moment <= b.end]
        running = [Band(n, s, t, moment) for (n, s), t in self._open.items() if t <= moment]
        return [f"{b.node}: {b.step}" for b in sorted(done + running, key=lambda b: b.start)]


class Change(Protocol):
    """A change of the cluster, run once while the traffic flows."""

    description: str

    def run(self, progress: Progress) -> None:
        """Make the change; raise when it could not be made."""


@dataclass(frozen=True)
class ChangeRun:
    """What a change under traffic looked like."""

    description: str
    record: traffic.Record
    counts: list[rollout.PodCount]
    fewest_available: int
    bands: list[Band]
    nodes_by_target: dict[str, str]  # host:port -> node name
    before: dict[str, Container]  # every pod's container before the change
    after: list[Answer]  # answers through the NodePort once the change is done
    picture: Path
    change: Change  # the change itself, with what it noted while it ran
    lives: list[rollout.PodLife] = field(default_factory=list)  # each web pod the watch saw
    error: str = ""  # the change could not be made: why

    def killed(self) -> list[str]:
        """Web pods that ended without a graceful shutdown: deleted with a grace period of 0,
        or gone without being asked to stop; requests in flight to them were cut off."""
        killed = []
        for life in self.lives:
            if life.exited is None:
                continue
            if life.stopping is None:
                why = "the watch never saw it asked to stop: its container died"
            elif not life.grace:
                why = "it was deleted with a grace period of 0 s"
            else:
                continue
            ended = life.exited - self.record.started
            killed.append(
                f"web pod {life.name} ended at {ended:+.2f} s with no graceful shutdown ({why})"
            )
        return killed

    def summary(self) -> str:
        """The traffic's summary line and how long the change took."""
        took = max((b.end for b in self.bands), default=self.record.started) - min(
            (b.start for b in self.bands), default=self.record.started
        )
        return (
            f"{self.description}: {self.record.summary()}; per node: {self.rate_per_node()}; "
            f"the change took {took:.1f} s"
        )

    def rate_per_node(self) -> str:
        """The requests each node was sent a second: round-robin, the rate over their number."""
        rates = self.record.rates()
        return ", ".join(
            f"{self.nodes_by_target.get(target, target)} {rates[target]:.1f}/s"
            for target in sorted(rates, key=lambda t: self.nodes_by_target.get(t, t))
        )

    def asked_rate(self) -> float:
        """The requests sent a second in all; the evidence says how many each node was sent."""
        evidence.record(
            "requests a second, in all and to each node (round-robin over the nodes)",
            f"{self.record.rate:.1f}/s in all; per node: {self.rate_per_node()}",
        )
        return self.record.rate

    def fewest_ready(self) -> str:
        """When the fewest web pods were ready, and the steps of the change then in progress."""
        low = min(self.counts, key=lambda c: c.available)
        steps = [f"{b.node}: {b.step}" for b in self.bands if b.start <= low.at <= b.end]
        return (
            f"the watch saw only {low.available} ready web pods at once, at "
            f"{low.at - self.record.started:+.1f} s, during {', '.join(steps) or 'no step of the change'}"
        )

    def failures(self) -> list[str]:
        """Each failed request: when, the node it went to, the steps in progress, the error."""
        lines = []
        for r in self.record.failed:
            moment = self.record.started + r.sent
            steps = [f"{b.node}: {b.step}" for b in self.bands if b.start <= moment <= b.end] or [
                "no step of the change"
            ]
            node = self.nodes_by_target.get(r.target, r.target)
            lines.append(
                f"{r.sent:8.3f} s  node {node} ({r.target}) during {', '.join(steps)}: {r.error}"
            )
        return lines


def start_web_spread(lab: Lab, replicas: int = 3, min_available: int = MIN_AVAILABLE) -> None:
    """Create the web Deployment spread over the workers, one pod a node where it can (a node
    cordoned for a drain does not count), and its PodDisruptionBudget keeping ``min_available``
    ready, unless they exist (returns at once)."""
    if lab.ns.get("Deployment", "web") is None:
        manifest = manifests.render("web-deployment", lab.images)
        manifest["spec"]["replicas"] = replicas
        manifest["spec"]["template"]["spec"]["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": HOSTNAME_KEY,
                "whenUnsatisfiable": "DoNotSchedule",
                # A cordoned or control-plane node (tainted) is no place to spread to.
                "nodeTaintsPolicy": "Honor",
                "labelSelector": {"matchLabels": {"app": "web"}},
            }
        ]
        lab.ns.apply(manifest)
    if _pdb(lab) is None:
        budget = manifests.read("web-pdb")
        budget["spec"]["minAvailable"] = min_available
        lab.ns.apply(budget)


def _pdb(lab: Lab) -> client.V1PodDisruptionBudget | None:
    try:
        return client.PolicyV1Api(lab.ns.kube.api).read_namespaced_pod_disruption_budget(
            "web", lab.ns.name, _request_timeout=SHORT
        )
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def run_web_spread(
    lab: Lab, replicas: int = 3, min_available: int = MIN_AVAILABLE
) -> list[client.V1Pod]:
    """The web Deployment spread over the workers with its PodDisruptionBudget, ``replicas``
    pods ready (the namespace's timeout)."""
    start_web_spread(lab, replicas, min_available)
    pods = lab.wait_for_web_pods(replicas)
    nodes = sorted({p.spec.node_name for p in pods})
    evidence.record(
        "the web pods' nodes and their disruption budget",
        f"{len(pods)} web pods on {len(nodes)} nodes ({', '.join(nodes)}); "
        f"PodDisruptionBudget web: minAvailable {min_available}",
    )
    return pods


def make(change: Change, progress: Progress) -> str:
    """Run ``change``; why it failed, with what it alerted ("": it succeeded). Interrupted, the
    KeyboardInterrupt goes on carrying the alerts: on an interrupt pytest shows the exception's
    message, and nothing a test printed."""
    try:
        change.run(progress)
    except Exception as exc:  # noqa: BLE001  (a Then names it, with what the traffic saw)
        error = "; ".join([f"{type(exc).__name__}: {exc}", *progress.alerts])
        progress.say(f"the change failed: {error}")
        return error
    except KeyboardInterrupt as exc:
        if progress.alerts:
            raise KeyboardInterrupt("; ".join(progress.alerts)) from exc
        raise
    return ""


def run_under_traffic(
    lab: Lab,
    change: Change,
    rate: float = traffic.RATE,
    settle_timeout: float | None = None,
    record: Callable[[str, object], None] | None = None,
) -> ChangeRun:
    """Run ``change`` while traffic flows on every node's address and a watch follows the web
    pods; afterwards wait (the namespace's timeout) until the web pods are all ready again, with
    traffic still flowing. The change's progress, its steps' bands and a timeline picture go to
    the evidence, and to ``record`` (pytest's ``record_property``) the summary line; an error
    of the change ends up in ``ChangeRun.error``, not raised."""
    replicas = len(lab.web_pods())
    lab.ask_every_node()  # every node's kube-proxy serves the NodePort before traffic starts
    port = lab.ns.node_port("web")
    nodes_by_target = {f"{a}:{port}": n for n, a in node_addresses(lab.ns.kube).items()}
    before = containers(lab.ns.pods())
    watch = rollout.PodWatch(lab.ns, WEB_SELECTOR)
    watch.start()
    progress = Progress(reports=lab.reports)
    try:
        with traffic.traffic(lab.node_port_urls(), rate=rate) as probe:
            error = make(change, progress)
            # Traffic flows until the web pods are back to full strength: a pod the change
            # replaced becomes ready with requests still coming.
            with progress.step("cluster", "web pods ready again"):
                lab.wait_for_web_pods(replicas, timeout=settle_timeout)
    finally:
        evidence.record(f"the change's progress: {change.description}", "\n".join(progress.lines))
        counts = watch.stop()
    evidence.record(
        "each step of the change (seconds since the traffic started)",
        evidence.table(
            ["NODE", "STEP", "FROM", "TO"],
            [
                [
                    b.node,
                    b.step,
                    f"{b.start - probe.record.started:+.2f}",
                    f"{b.end - probe.record.started:+.2f}",
                ]
                for b in progress.bands
            ],
        ),
    )
    picture = lab.reports / f"change-{lab.ns.name}.png"
    lives = sorted(watch.lives.values(), key=lambda life: (life.started or 0.0, life.name))
    result = ChangeRun(
        change.description,
        probe.record,
        counts,
        watch.fewest_available,
        list(progress.bands),
        nodes_by_target,
        before,
        ask_through_node_port(lab.ns),
        picture,
        change,
        lives,
        error,
    )
    if result.record.failed:
        evidence.record(FAILED_REQUESTS, "\n".join(result.failures()))
    timeline.publish(
        probe.record,
        counts,
        change.description,
        picture,
        "the change's timeline: answers per second, web pods, each pod's life, each node's steps",
        result.summary(),
        lives=[(life, version_of(lab.images, life.image)) for life in lives],
        bands=result.bands,
    )
    if record is not None:
        record(SUMMARY_PROPERTY, result.summary())
        record("timeline", str(picture))
        if error:
            record(ERROR_PROPERTY, error)
    return result
