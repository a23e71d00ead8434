"""The changes the change chapter runs: the user's own command, and the built-in ones on
kubelab's local cluster (a runtime restart here; the upgrade in ``kubelab.upgrade``)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kubelab import commands, evidence
from kubelab.change import ChangeRun, Progress
from kubelab.cluster.base import Provider
from kubelab.cluster.local import changing
from kubelab.errors import EnvironmentProblem, NotSupported, UsageError
from kubelab.waits import CHANGE, MEDIUM, SHORT, wait_until

if TYPE_CHECKING:
    from kubelab.client import Kube
    from kubelab.cluster.local import LocalCluster

OUTPUT_TAIL = 5  # lines of a failed command's output its error shows
STOP_GRACE = 5.0  # an interrupted command's time to end on SIGTERM before SIGKILL
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")  # a shell variable set before a command
# Words that start a shell construct, not a program: the shell checks what follows.
SHELL_WORDS = {"(", "{", "!", "exec", "cd", "set", "export", "if", "for", "while", "until", "case"}


def check_command(command: str) -> None:
    """Refuse a ``--change`` that is empty or whose program does not exist (one line); the
    program is the word after any ``NAME=value`` and ``env NAME=value`` in front of it."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--change {command!r} does not parse as a shell command: {exc}") from None
    if not words:
        raise UsageError("--change is empty: give the command that makes the change")
    words = _after_assignments(words)
    if words[:1] == ["env"]:
        words = _after_assignments(words[1:])
    if not words or words[0].startswith("-"):
        return  # only assignments, or env's own options: nothing here to look up
    program = words[0]
    if program in SHELL_WORDS:
        return  # a shell construct: the shell says what is wrong with it
    if shutil.which(program) is None:
        raise UsageError(
            f"--change {command!r}: {program} is not a program on PATH or an executable file"
        )


def _after_assignments(words: list[str]) -> list[str]:
    """``words`` from the first that is not a ``NAME=value`` assignment."""
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]
    return words


@dataclass
class CommandChange:
    """The user's command, run by ``sh -c`` with KUBECONFIG (and KUBELAB_NAMESPACE, the
    scenario's namespace) set; killed with its process group after ``timeout`` seconds, or
    when the run is interrupted or fails while it runs."""

    command: str
    kubeconfig: Path
    namespace: str
    timeout: float = CHANGE
    output: str = ""
    status: int | None = None  # None: it did not finish
    description: str = field(init=False)

    def __post_init__(self) -> None:
        self.description = f"the command {self.command!r}"

    def run(self, progress: Progress) -> None:
        """Run the command; raise EnvironmentProblem unless it exits 0 within the timeout."""
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBELAB_NAMESPACE": self.namespace,
        }
        with progress.step("cluster", f"$ {self.command}"):
            # Its own process group, so a timeout ends everything it started.
            child = commands.spawn(["sh", "-c", self.command], output=subprocess.PIPE, env=env)
            try:
                self.output, _ = child.communicate(timeout=self.timeout)
                self.status = child.returncode
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                self.output, _ = child.communicate(timeout=SHORT)
            except BaseException:
                # Ctrl-C, SIGTERM or an error here: the change must not go on with no one
                # watching it (its process group outlives the run otherwise).
                commands.kill_group(child, grace=STOP_GRACE, whole_group=True)
                raise
            finally:
                evidence.record(
                    f"$ {self.command}   (exit status "
                    f"{self.status if self.status is not None else 'none: killed'})",
                    self.output or "(no output)",
                )
        tail = " | ".join(self.output.strip().splitlines()[-OUTPUT_TAIL:]) or "no output"
        if self.status is None:
            raise EnvironmentProblem(
                f"the change {self.command!r} did not finish within {self.timeout:g} s "
                f"(--change-timeout); killed; its output ended: {tail}"
            )
        if self.status != 0:
            raise EnvironmentProblem(
                f"the change {self.command!r} exited with status {self.status}; its output "
                f"ended: {tail}"
            )


def local_cluster(provider: Provider, change: str) -> LocalCluster:
    """The local cluster a built-in change works on; NotSupported on any other provider."""
    cluster = getattr(provider, "cluster", None)
    if provider.name != "local" or cluster is None:
        raise NotSupported(
            f"the {change} change is built for kubelab's local cluster, and this run's cluster "
            f'is {provider.name}: give your own with --change "COMMAND"'
        )
    return cluster


def wait_for_node_ready(kube: Kube, node: str, since: float, timeout: float = MEDIUM) -> None:
    """Wait until ``node`` is Ready with a heartbeat stamped after ``since`` (wall clock): its
    kubelet has posted its status since then (default 120 s)."""
    from kubelab.states import is_ready

    def seen() -> tuple[bool, float]:
        found = kube.get("Node", node)
        ready = (
            next((c for c in found.status.conditions or [] if c.type == "Ready"), None)
            if found
            else None
        )
        beat = ready.last_heartbeat_time.timestamp() if ready and ready.last_heartbeat_time else 0
        return bool(found is not None and is_ready(found)), beat

    wait_until(
        seen,
        lambda s: s[0] and s[1] >= math.ceil(since),  # stamped to the second: a later one
        timeout=timeout,
        what=f"node {node} Ready, its kubelet posting status again",
        describe=lambda s: f"Ready={s[0]}, last heartbeat {time.time() - s[1]:.0f} s ago",
        interval=0.5,
    )


@dataclass
class RuntimeRestart:
    """Every node's containerd stopped and started again with the same command line, node by
    node; its shims keep the pods' containers running meanwhile."""

    cluster: LocalCluster
    kube: Kube
    description: str = "every node's container runtime restarted, node by node"

    def run(self, progress: Progress) -> None:
        """Restart each node's containerd, then wait until the node's kubelet reports it Ready."""
        for node in self.cluster.nodes():
            with progress.step(node.name, "containerd restart"):
                changing.restart_runtime(self.cluster, node.name)
            restarted = time.time()
            with progress.step(node.name, "kubelet reports Ready"):
                wait_for_node_ready(self.kube, node.name, restarted)


@dataclass
class ProxyModeSwitch:
    """Every node's kube-proxy moved from iptables to nftables, node by node."""

    cluster: LocalCluster
    description: str = "every node's kube-proxy switched from iptables to nftables, node by node"
    target: str = "nftables"

    def run(self, progress: Progress) -> None:
        """Switch each node's kube-proxy; note the cluster's new mode once all are switched."""
        if self.cluster.proxy_mode == self.target:
            raise EnvironmentProblem(
                f"kube-proxy runs in {self.target} mode already: run the cluster with "
                "--proxy-mode iptables to switch it"
            )
        for node in self.cluster.nodes():
            with progress.step(node.name, f"kube-proxy to {self.target}"):
                changing.switch_proxy_mode(self.cluster, node.name, self.target)
        changing.record_proxy_mode(self.cluster, self.target)

    def leftovers(self) -> list[str]:
        """Each node whose iptables still holds kube-proxy rules, or that has no nftables ones."""
        problems = []
        rows = []
        for node in self.cluster.nodes():
            rules = changing.proxy_rules(self.cluster, node.name)
            rows.append([node.name, rules["iptables"], rules["nftables"]])
            if rules["iptables"]:
                problems.append(
                    f"{node.name}: {rules['iptables']} kube-proxy rules left in iptables"
                )
            if not rules["nftables"]:
                problems.append(f"{node.name}: no kube-proxy table in nftables")
        evidence.record(
            "kube-proxy's rules on every node",
            evidence.table(
                ["NODE", "IPTABLES KUBE-PROXY RULES", "NFTABLES KUBE-PROXY CHAINS"], rows
            ),
        )
        return problems


def switched(run: ChangeRun) -> ProxyModeSwitch:
    """The kube-proxy switch a change run made (TypeError for any other change)."""
    if not isinstance(run.change, ProxyModeSwitch):
        raise TypeError(f"{run.description} is not a kube-proxy mode switch")
    return run.change
