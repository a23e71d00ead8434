"""LocalCluster: bring a real upstream Kubernetes up as processes in network namespaces, and down."""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
from pathlib import Path

from kubelab import commands, paths, releases
from kubelab.build import ensure_binaries, ensure_runtime
from kubelab.client import API_ERRORS
from kubelab.cluster.local import (
    bootstrap,
    containerd,
    files,
    network,
    plan,
    proc,
    teardown,
)
from kubelab.cluster.local.boot import Boot
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.hostdeps import cgroup_v2, check_platform, ensure_host_packages
from kubelab.cluster.local.plan import LocalNode
from kubelab.cluster.local.supervise import Supervisor
from kubelab.console import say
from kubelab.errors import EnvironmentProblem, KubelabError, UsageError
from kubelab.locks import file_lock
from kubelab.names import CLUSTER_NAME
from kubelab.transient import is_transient
from kubelab.waits import SHORT, wait_until

NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


class LocalCluster:
    """A local cluster: one control-plane node and N workers, each in its own network namespace."""

    def __init__(
        self,
        name: str = CLUSTER_NAME,
        workers: int = 3,
        k8s_version: str | None = None,
        proxy_mode: str | None = None,
    ) -> None:
        if not NAME_RE.match(name):
            raise UsageError(
                f"cluster name {name!r}: use 1-12 lowercase letters/digits, e.g. kubelab"
            )
        if not 0 <= workers <= plan.MAX_WORKERS:
            raise UsageError(f"--workers {workers}: give 0 to {plan.MAX_WORKERS}")
        self.name = name
        self.workers = workers
        self._asked = k8s_version
        if k8s_version is not None:  # a release asked for and not offered: refused at once
            self.release = releases.choose(k8s_version)
        self.proxy_mode = releases.choose_proxy_mode(proxy_mode)
        self.layout = Layout(name, paths.state_dir() / "clusters" / name)
        self.processes = Supervisor(self.layout)

    # ---- public API -------------------------------------------------------------------------

    @functools.cached_property
    def release(self) -> releases.Chosen:
        """The release a boot runs (and an upgrade in place records): the one asked for, else
        the newest supported, chosen when first needed, so that status, kubeconfig and down work
        whatever the release table says (also once every release in it is past its end of
        life)."""
        return releases.choose(self._asked)

    @property
    def k8s_version(self) -> str:
        """The Kubernetes version of ``release`` ("1.37.2")."""
        return self.release.version

    @property
    def pause(self) -> str:
        """The pod sandbox image a boot gives every node: kubelab's build of pause, tagged with
        the version kubeadm of the release pins (an upgrade in place keeps the booted one)."""
        from kubelab.images.pause import pause_image

        return pause_image(self.release.release.pause)

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (server https://<control-plane address>:6443)."""
        return self.layout.admin_kubeconfig

    @property
    def log_dir(self) -> Path:
        """Directory with one log file per component per node (kept after down)."""
        return self.layout.logs

    def nodes(self) -> list[LocalNode]:
        """The nodes of this cluster (as started, if it is up; else as configured)."""
        return plan.plan_nodes(self.name, self._started_workers())

    def node(self, node_name: str) -> LocalNode:
        """The node of this cluster named ``node_name`` (its name, netns or short name)."""
        for node in self.nodes():
            if node_name in (node.name, node.netns, node.short):
                return node
        raise UsageError(
            f"no node {node_name!r} in cluster {self.name}: nodes are {', '.join(n.name for n in self.nodes())}"
        )

    def up(self) -> bool:
        """Build binaries if needed, install host packages, start everything, wait until ready;
        True when this call started the cluster.

        Reuses a running cluster of the same workers and version (False), waiting out a
        transient API error; never removes a cluster whose processes run. Ready: all nodes
        Ready and cluster DNS answering from every worker (timeout 300 s).
        """
        release = self.release  # chosen, or refused in one line, before anything starts
        check_platform()
        with self._lock():
            state = self._state()
            if state == "running":
                self._check_reusable()
                say(f"[up] cluster {self.name} is already up and healthy: reusing it")
                return False
            if state != "absent":
                raise EnvironmentProblem(
                    f"cluster {self.name} is not whole: {state} (logs: {self.log_dir}); "
                    "run `kubelab local down` first"
                )
            others = network.other_clusters(self.name)
            if others:
                raise UsageError(
                    f"local cluster {others[0]} is up and there is one per host: "
                    f"run `kubelab local down --name {others[0]}` first"
                )
            self._refuse_another_state_dirs()
            ensure_host_packages()
            bins = ensure_binaries(paths.cache_dir(), release)
            runtime = ensure_runtime(paths.cache_dir())
            coredns = release.release.coredns
            if not cgroup_v2():
                say(
                    "[up] this host's cgroups are v1 (or hybrid): the kubelets run with "
                    "failCgroupV1: false (Kubernetes 1.35+ refuses v1 otherwise)"
                )
            from kubelab.images.coredns import build_coredns_image
            from kubelab.images.pause import build_pause_image

            images = [
                build_pause_image(paths.cache_dir(), self.pause),
                build_coredns_image(paths.cache_dir(), bins.path("coredns"), coredns),
            ]
            if self._has_leftovers():  # none of its processes runs: what a stopped cluster left
                say(f"[up] removing what a previous run of {self.name} left")
                self._teardown()
            try:
                Boot(
                    self.name,
                    self.workers,
                    release,
                    self.pause,
                    self.proxy_mode,
                    self.layout,
                    self.processes,
                ).run(bins, runtime, images)
            except BaseException as exc:
                say(f"[up] failed ({type(exc).__name__}); cleaning up")
                self._teardown()
                if isinstance(exc, KubelabError):
                    raise type(exc)(f"{exc} (component logs: {self.log_dir})") from None
                raise
        return True

    def _check_reusable(self) -> None:
        """The running cluster has the requested workers and version, and is healthy (waiting
        out transient API errors); else one line naming what runs and what was asked."""
        meta = self._meta() or {}
        running = (
            meta.get("workers"),
            meta.get("k8s_version"),
            meta.get("proxy_mode", releases.DEFAULT_PROXY_MODE),
        )
        if running != (self.workers, self.k8s_version, self.proxy_mode):
            raise UsageError(
                f"cluster {self.name} is up with {running[0]} workers, Kubernetes v{running[1]} "
                f"and kube-proxy in {running[2]} mode, not the {self.workers} workers, "
                f"v{self.k8s_version} and {self.proxy_mode} asked for: run `kubelab local down` "
                "first, or ask for what runs"
            )
        try:  # its nodes' readiness is for the lab to check and explain, not a reason to refuse
            wait_until(
                lambda: self._health_problems(nodes=False),
                lambda problems: not problems,
                timeout=SHORT,
                what=f"the API server of the running cluster {self.name} to be ready",
                describe="; ".join,
            )
        except KubelabError as exc:
            raise EnvironmentProblem(
                f"{exc} (it is left as it is: see `kubelab local status`, {self.log_dir})"
            ) from exc

    def down(self) -> None:
        """Stop every process, remove mounts, namespaces, links, rules, cgroups and state."""
        check_platform()
        with self._lock():
            self._refuse_another_state_dirs()
            if not self._has_leftovers():
                say(f"[down] cluster {self.name}: nothing to remove")
                return
            self._teardown()
        say(f"[down] cluster {self.name} removed (logs kept in {self.log_dir})")

    def has_processes(self) -> bool:
        """Some process of the cluster runs (healthy or not)."""
        return self._state() != "absent"

    def is_running(self) -> bool:
        """True when every process runs, the API server is ready and every node is Ready."""
        if self._state() != "running":
            return False
        try:
            return not self._health_problems()
        except Exception as exc:
            if is_transient(exc):
                return False
            raise

    def status(self) -> str:
        """Human-readable status: processes, API server, nodes; what `kubelab local status` prints."""
        meta = self._meta()
        if meta is None:
            state = self._state()
            if state != "absent":  # an earlier down could not stop everything
                return f"cluster {self.name}: taken down but {state}"
            return f"cluster {self.name}: not created (no state in {self.layout.root})"
        lines = [
            (
                f"cluster {self.name}: Kubernetes v{meta['k8s_version']}, {meta['workers']} workers, "
                f"kube-proxy {meta.get('proxy_mode', releases.DEFAULT_PROXY_MODE)}"
            ),
            f"kubeconfig: {self.kubeconfig}",
            f"logs: {self.log_dir}",
        ]
        dead = proc.dead(self.layout.pids)
        total = len(proc.records(self.layout.pids))
        lines.append(
            f"processes: {total - len(dead)}/{total} running"
            + (f"; dead: {', '.join(dead)}" if dead else "")
        )
        try:
            api = bootstrap.api_client(self.kubeconfig)
            lines.append(f"apiserver /readyz: {bootstrap.readyz(api)}")
            for node, ready in sorted(bootstrap.node_states(api).items()):
                lines.append(f"node {node}: Ready={ready}")
        except API_ERRORS as exc:
            lines.append(
                f"apiserver: unreachable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            )
        return "\n".join(lines)

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        """Run argv in the node's network namespace (host filesystem); its stdout; CommandFailed
        on failure."""
        return commands.run(self.node_argv(node_name, argv), timeout=timeout)

    def node_argv(self, node_name: str, argv: list[str]) -> list[str]:
        """``argv`` as run in the node's network namespace (on the host's filesystem)."""
        return proc.in_netns(self.node(node_name).netns, argv)

    def import_image(self, archive: Path, workers_only: bool = True) -> None:
        """Import an OCI image archive into every worker's (or every node's) containerd.

        A node that already has every image of the archive, by name and digest, is skipped.
        """
        containerd.import_where_missing(
            [n for n in self.nodes() if not (workers_only and n.control_plane)], archive
        )

    def trust_plain_http_registry(self, address: str) -> None:
        """Let every node's containerd pull from ``address`` (HOST:PORT) over plain HTTP.

        That address only: a ``hosts.toml`` in each node's registry hosts directory, read by
        containerd at every pull (no restart). ``forget_registry`` removes it.
        """
        for node in self.nodes():
            hosts = self.layout.node_dirs(node).registry_hosts / address
            hosts.mkdir(parents=True, exist_ok=True)
            (hosts / "hosts.toml").write_text(
                f'server = "http://{address}"\n\n'
                f'[host."http://{address}"]\n  capabilities = ["pull", "resolve"]\n'
            )

    def forget_registry(self, address: str) -> None:
        """Undo ``trust_plain_http_registry`` on every node."""
        for node in self.nodes():
            shutil.rmtree(self.layout.node_dirs(node).registry_hosts / address, ignore_errors=True)

    def node_images(self, node_name: str) -> list[str]:
        """Names of the images in the node's containerd (CRI namespace), like ``crictl images``."""
        return sorted(
            name
            for name in containerd.node_images(self.node(node_name))
            if not name.startswith("sha256:")
        )

    def node_containers(self, node_name: str) -> list[str]:
        """Full ids of the app containers running on the node, like ``crictl ps -q --no-trunc``.

        They match a Pod's ``containerStatuses[].containerID`` (minus ``containerd://``).
        """
        return containerd.running_containers(self.node(node_name))

    # ---- state ------------------------------------------------------------------------------

    def _meta(self) -> dict[str, object] | None:
        return files.read_meta(self.layout)

    def _started_workers(self) -> int:
        meta = self._meta()
        workers = meta.get("workers") if meta else None
        return workers if isinstance(workers, int) else self.workers

    def _state(self) -> str:
        """ "absent" (no process of the cluster runs), "running" (all run), else what is wrong:
        the processes that exited, or those an earlier `down` could not stop."""
        records = proc.records(self.layout.pids)
        dead = proc.dead(self.layout.pids)
        if not records or len(dead) == len(records):
            return "absent"
        if self._meta() is None:
            survivors = "; ".join(proc.survivors(self.layout.pids))
            return f"{survivors} survived an earlier `kubelab local down`"
        return f"{', '.join(dead)} exited" if dead else "running"

    def _health_problems(self, nodes: bool = True) -> list[str]:
        """What keeps the running cluster from being healthy: the API server's /readyz, (and)
        nodes not Ready. API errors propagate (a caller waits out the transient ones)."""
        api = bootstrap.api_client(self.kubeconfig)
        ready = bootstrap.readyz(api).strip()
        if ready != "ok" or not nodes:
            return [] if ready == "ok" else [f"kube-apiserver /readyz: {ready}"]
        states = bootstrap.node_states(api)
        return [
            f"node {n.name}: {states.get(n.name, 'not registered')}"
            for n in self.nodes()
            if states.get(n.name) != "True"
        ]

    def _refuse_another_state_dirs(self) -> None:
        """Processes run in this cluster's node namespaces, yet this state directory started
        none (it has no records, or only of processes that have exited): a cluster of the same
        name started with another state directory, never taken for leftovers (one line, nothing
        touched)."""
        if len(proc.dead(self.layout.pids)) < len(proc.records(self.layout.pids)):
            return  # this state directory's own processes run there
        busy = [ns for ns in network.node_netns_names(self.name) if network.netns_pids(ns)]
        if busy:
            raise UsageError(
                f"a cluster named {self.name} runs on this host (processes in {', '.join(busy)}) "
                f"but was not started with this state directory ({paths.state_dir()}): take it "
                "down with the state directory (XDG_STATE_HOME or KUBELAB_STATE_DIR) it was "
                "started with"
            )

    def _has_leftovers(self) -> bool:
        return (
            self.layout.meta.exists()
            or bool(proc.records(self.layout.pids))
            or bool(network.node_netns_names(self.name))
            or (
                Path(f"/sys/class/net/{plan.BRIDGE}").exists()
                and not network.other_clusters(self.name)
            )
            or plan.run_dir(self.name).exists()
        )

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        lock_path = paths.state_dir() / "local.lock"
        return file_lock(
            lock_path,
            wait=False,
            busy=f"another `kubelab local up/down` is running (lock {lock_path} is held): wait for it",
        )

    def _teardown(self) -> None:
        workers = max(self._started_workers(), teardown.netns_workers(self.name))
        teardown.teardown(self.layout, plan.plan_nodes(self.name, workers))
