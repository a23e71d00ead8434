"""An in-place upgrade of kubelab's local cluster by one minor release, in kubeadm's order.

The control plane first: etcd (at the release's pinned version, its data kept), the API server,
the controller-manager, the scheduler. Then the CoreDNS add-on, as ``kubeadm upgrade apply``
does: the release's CoreDNS image (built before the upgrade starts) imported on every node and
the coredns Deployment rolled to it. Then each node in turn, the control-plane node first:
cordon, drain through the eviction API (honouring PodDisruptionBudgets; a bare pod stays in
place), the kubelet and kube-proxy started on the new binaries, uncordon. The version-skew
policy holds at every step: no kubelet, kube-proxy, controller-manager or scheduler is newer
than the API server. Interrupted, it uncordons the node it was at (another Ctrl-C waits for
that; an uncordon that fails names the node left cordoned) and says which components run which
release, and which run none: stopped, and not yet started on the new one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubelab import clusterdns, drain, releases, signals
from kubelab.build import Binaries, ensure_binaries
from kubelab.change import ChangeRun, Progress
from kubelab.changes import wait_for_node_ready
from kubelab.checks import parse_version
from kubelab.client import Kube
from kubelab.cluster.base import Provider
from kubelab.cluster.local import changing
from kubelab.errors import EnvironmentProblem
from kubelab.images.coredns import build_coredns_image, coredns_image
from kubelab.paths import cache_dir
from kubelab.waits import MEDIUM, SHORT, wait_until

if TYPE_CHECKING:
    from kubelab.cluster.local import LocalCluster

# The control plane in kubeadm's upgrade order (etcd, API server, controller-manager, scheduler).
CONTROL_PLANE = changing.CONTROL_PLANE
NODE_STEPS = ("cordon", "drain", "kubelet", "kube-proxy", "uncordon")
# The add-ons kubeadm upgrades after the control plane, before the nodes; cluster-wide steps.
ADDONS = ("coredns",)
CLUSTER = "cluster"  # the node a cluster-wide step names (Progress bands, Step.node)
# The steps that start a component on the new release (each is held to the skew policy).
COMPONENTS = (*CONTROL_PLANE, "kubelet", "kube-proxy")
# How far each component may lag the API server (minor releases); none may be newer.
BEHIND = {"kube-controller-manager": 1, "kube-scheduler": 1, "kubelet": 3, "kube-proxy": 3}
# What a component runs from the moment its old process is stopped until its new one is started.
STOPPED = "stopped"


def next_release(version: str) -> releases.Chosen:
    """The release one minor after ``version`` that kubelab knows (EnvironmentProblem if none)."""
    minor = releases.choose(version).release.minor
    if minor == releases.DEFAULT.minor:
        raise EnvironmentProblem(
            f"the cluster runs {version}, the newest release kubelab knows: nothing to upgrade to"
        )
    return releases.choose(f"1.{minor + 1}")


def releases_reported(kube: Kube, version: str) -> list[str]:
    """The API server and each kubelet not reporting ``version`` (``1.37.2``), with what they do."""
    wrong = []
    server = kube.server_version().lstrip("v")
    if server != version:
        wrong.append(f"the API server reports {server}")
    for node in sorted(kube.nodes(), key=lambda n: n.metadata.name):
        kubelet = str(node.status.node_info.kubelet_version).lstrip("v")
        if kubelet != version:
            wrong.append(f"the kubelet of {node.metadata.name} reports {kubelet}")
    return wrong


def coredns_reported(kube: Kube, target: releases.Chosen) -> list[str]:
    """The coredns Deployment and each of its pods not running ``target``'s CoreDNS image,
    with what they run."""
    return clusterdns.not_running(kube, coredns_image(target.release.coredns))


@dataclass(frozen=True)
class Built:
    """What an upgrade to a release starts: its binaries and its CoreDNS image archive."""

    bins: Binaries
    coredns: Path


def build(target: releases.Chosen) -> Built:
    """``target``'s binaries and CoreDNS image, built or found in the cache (a cold build of
    the binaries takes tens of minutes, a warm look seconds)."""
    bins = ensure_binaries(cache_dir(), target)
    archive = build_coredns_image(cache_dir(), bins.path("coredns"), target.release.coredns)
    return Built(bins, archive)


@dataclass(frozen=True)
class Step:
    """One step of the upgrade: a component of a node restarted on the new release, a cordon,
    drain or uncordon of a node, or an add-on upgraded (on the node ``cluster``)."""

    node: str
    action: str


def upgrade_plan(control_plane: str, workers: list[str]) -> list[Step]:
    """kubeadm's order: the control plane's components, the add-ons, then every node (control
    plane first)."""
    steps = [Step(control_plane, c) for c in CONTROL_PLANE]
    steps += [Step(CLUSTER, addon) for addon in ADDONS]
    for node in [control_plane, *workers]:
        steps += [Step(node, action) for action in NODE_STEPS]
    return steps


def skew_violations(steps: list[Step], old: int, new: int) -> list[str]:
    """Every moment of ``steps`` (from minor ``old`` to ``new``) at which a component is newer
    than the API server or too far behind it (pure: the plan's check before anything runs)."""
    minor = {(s.node, s.action): old for s in steps if s.action in COMPONENTS}
    problems = []
    for at, step in enumerate(steps, 1):
        if (step.node, step.action) not in minor:
            continue
        minor[(step.node, step.action)] = new
        api = max((v for (_, c), v in minor.items() if c == "kube-apiserver"), default=old)
        for (node, component), version in sorted(minor.items()):
            if component in BEHIND and (version > api or api - version > BEHIND[component]):
                problems.append(
                    f"after step {at} ({step.node} {step.action}): {component} on {node} at "
                    f"1.{version}, the API server at 1.{api}"
                )
    return problems


@dataclass
class Upgrade:
    """The built-in upgrade change: ``cluster`` from its release to ``target`` (one minor)."""

    cluster: LocalCluster
    kube: Kube
    target: releases.Chosen
    built: Built  # the target's binaries and CoreDNS image, built before the upgrade starts
    description: str = ""
    # what each component of each node runs now, as the upgrade goes: for an interruption
    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    skew_seen: list[str] = field(default_factory=list)  # live checks that failed

    def __post_init__(self) -> None:
        self.description = (
            f"Kubernetes {self.cluster.k8s_version} upgraded in place to {self.target.version}"
        )

    def plan(self) -> list[Step]:
        """This cluster's upgrade, checked against the skew policy (EnvironmentProblem)."""
        nodes = self.cluster.nodes()
        cp = next(n.name for n in nodes if n.control_plane)
        steps = upgrade_plan(cp, [n.name for n in nodes if not n.control_plane])
        old = releases.choose(self.cluster.k8s_version).release.minor
        if self.target.release.minor != old + 1:
            raise EnvironmentProblem(
                f"the cluster runs {self.cluster.k8s_version}: an in-place upgrade goes to the "
                f"next minor, 1.{old + 1}, not {self.target.version}"
            )
        violations = skew_violations(steps, old, self.target.release.minor)
        if violations:
            raise EnvironmentProblem(f"the upgrade plan breaks the skew policy: {violations[0]}")
        return steps

    def run(self, progress: Progress) -> None:
        """Upgrade, step by step; a node being upgraded is uncordoned also when a step fails
        or the run is interrupted, and the error says which node is between releases."""
        steps = self.plan()
        old = self.cluster.k8s_version
        for step in steps:
            if step.action in COMPONENTS:
                self.versions[(step.node, step.action)] = old
        cordoned: str | None = None
        try:
            for step in steps:
                if step.action == "cordon":
                    cordoned = step.node  # before the step: an interrupted cordon may have landed
                with progress.step(step.node, step.action):
                    self._do(step, progress)
                if step.action == "uncordon":
                    cordoned = None
                if (step.node, step.action) in self.versions:
                    self._check_skew(step)
        except BaseException:
            # Another Ctrl-C or SIGTERM would leave the node cordoned: it only says so meanwhile.
            with signals.shielded():
                if cordoned is not None:
                    self._uncordon_after_stop(cordoned, progress)
                between = self.between_releases()
                if between:
                    progress.alert(f"the upgrade stopped: {between}")
            raise
        changing.record_release(self.cluster, self.target.version)

    def _uncordon_after_stop(self, node: str, progress: Progress) -> None:
        """Uncordon ``node`` once the upgrade stopped; say so, or that it is still cordoned."""
        try:
            drain.set_unschedulable(self.kube, node, False)
        except Exception as exc:  # noqa: BLE001  (the error the upgrade stopped on goes on)
            progress.alert(
                f"{node}: still cordoned: the uncordon failed ({type(exc).__name__}: {exc}); "
                f"run `kubectl uncordon {node}`"
            )
        else:
            progress.alert(f"{node}: uncordoned (the upgrade stopped)")

    def between_releases(self) -> str:
        """Where each node stands, when not every component runs the same release (or one is
        STOPPED: ``w1 between releases (kubelet stopped, kube-proxy 1.36.3)``)."""
        if len(set(self.versions.values())) < 2:
            return ""
        nodes: dict[str, dict[str, str]] = {}
        for (node, component), version in self.versions.items():
            nodes.setdefault(node, {})[component] = version
        parts = [
            f"{node} at {next(iter(runs.values()))}"
            if len(set(runs.values())) == 1
            else f"{node} between releases ({', '.join(f'{c} {v}' for c, v in runs.items())})"
            for node, runs in nodes.items()
        ]
        return "the cluster is between releases: " + "; ".join(parts)

    def _do(self, step: Step, progress: Progress) -> None:
        if step.action == "coredns":
            self._upgrade_coredns(progress)
        elif step.action == "cordon":
            drain.set_unschedulable(self.kube, step.node, True)
        elif step.action == "uncordon":
            drain.set_unschedulable(self.kube, step.node, False)
        elif step.action == "drain":
            drain.drain(self.kube, step.node, say=progress.say)
        else:
            # Interrupted between stopping the old process and starting the new, the component
            # runs no release at all: what an interruption reports.
            self.versions[(step.node, step.action)] = STOPPED
            changing.restart_component(self.cluster, step.node, step.action, self.built.bins)
            # From here the new release runs, serving or not.
            self.versions[(step.node, step.action)] = self.target.version
            self._wait_serving(step, time.time())

    def _upgrade_coredns(self, progress: Progress) -> None:
        """Import the new CoreDNS image on every node, roll the coredns Deployment to it, and
        wait until its new pods are the kube-dns Service's ready endpoints (300 s)."""
        image = coredns_image(self.target.release.coredns)
        self.cluster.import_image(self.built.coredns, workers_only=False)
        progress.say(f"{image} imported on every node; rolling the coredns Deployment to it")
        clusterdns.set_coredns_image(self.kube, image)
        clusterdns.wait_for_coredns(self.kube, image)

    def _wait_serving(self, step: Step, started: float) -> None:
        """Until the restarted component does its job again."""
        if step.action == "kube-apiserver":
            wait_until(
                self._server_version,
                lambda version: version.lstrip("v") == self.target.version,
                timeout=MEDIUM,
                what=f"the API server to answer as {self.target.version}",
                interval=0.2,
            )
        elif step.action == "kubelet":
            wait_for_node_ready(self.kube, step.node, started)
            wait_until(
                lambda: self.kube.get("Node", step.node).status.node_info.kubelet_version,
                lambda version: str(version).lstrip("v") == self.target.version,
                timeout=SHORT,
                what=f"the kubelet of {step.node} to report {self.target.version}",
                interval=0.5,
            )
        elif step.action == "kube-proxy":
            changing.wait_for_kube_proxy(self.cluster, step.node)
        else:
            changing.wait_for_health(self.cluster, step.node, step.action)

    def _server_version(self) -> str:
        """The API server's version, or why there is none while it restarts."""
        try:
            return self.kube.server_version()
        except EnvironmentProblem as exc:
            return f"no answer: {exc}"

    def _check_skew(self, step: Step) -> None:
        """After a step: no kubelet newer than the API server, as the cluster reports them."""
        version = wait_until(
            self._server_version,
            lambda v: v.startswith("v"),
            timeout=MEDIUM,
            what="the API server to answer",
            interval=0.2,
        )
        api = parse_version(version)
        for node in self.kube.nodes():
            kubelet = parse_version(str(node.status.node_info.kubelet_version))
            if kubelet > api:
                self.skew_seen.append(
                    f"after {step.node} {step.action}: kubelet of {node.metadata.name} "
                    f"{kubelet[0]}.{kubelet[1]}, API server {api[0]}.{api[1]}"
                )


def in_place(provider: Provider, kube: Kube) -> Upgrade:
    """The upgrade of ``provider``'s local cluster to the next minor release, whose binaries
    and CoreDNS image are built first (or found in the cache)."""
    from kubelab.changes import local_cluster

    cluster = local_cluster(provider, "upgrade")
    target = next_release(cluster.k8s_version)
    # Built now, before the traffic starts: a build under traffic would compete with it.
    return Upgrade(cluster, kube, target, build(target))


def of(run: ChangeRun) -> Upgrade:
    """The upgrade a change run made (TypeError for any other change)."""
    if not isinstance(run.change, Upgrade):
        raise TypeError(f"{run.description} is not an upgrade")
    return run.change
