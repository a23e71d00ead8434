"""Changes to a running local cluster, as the change chapter makes them: a node's containerd
restarted, a component started again on another release's binaries (an upgrade in place) or in
another kube-proxy mode; waits until such a component serves again; what the cluster notes it
runs afterwards (``kubelab local status``, and which runs reuse it)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from kubelab import releases
from kubelab.build import Binaries
from kubelab.cluster.local import cleanup, components, configs, containerd, files, netns, plan, proc
from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.waits import ATTEMPT, MEDIUM, SHORT

if TYPE_CHECKING:
    from kubelab.cluster.local.cluster import LocalCluster

# The control-plane node's own components, in the order they start (and kubeadm upgrades them).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# The kubelet's own iptables chains; every other KUBE- chain is kube-proxy's.
KUBELET_CHAINS = frozenset({"KUBE-IPTABLES-HINT", "KUBE-FIREWALL", "KUBE-KUBELET-CANARY"})
KUBE_CHAIN = re.compile(r"KUBE-[A-Z0-9-]+")
# The programs each kube-proxy mode runs (switch_proxy_mode gives a kube-proxy only these).
MODE_PROGRAMS = {
    "iptables": tuple(
        f"{family}{tool}"
        for family in ("iptables", "ip6tables")
        for tool in ("", "-save", "-restore")
    ),
    "nftables": ("nft",),
}
HEALTH = {  # on the control-plane node's loopback (components.py)
    "etcd": "http://127.0.0.1:2381/health",
    "kube-controller-manager": "https://127.0.0.1:10257/healthz",
    "kube-scheduler": "https://127.0.0.1:10259/healthz",
}


def restart_runtime(cluster: LocalCluster, node_name: str) -> None:
    """Stop the node's containerd and start it again with the same command line; wait until
    it answers (30 s). Its shims, in process groups of their own, keep the pods' containers
    running meanwhile, as a ``systemctl restart containerd`` does (KillMode=process)."""
    node = cluster.node(node_name)
    name = f"{node.short}-containerd"
    record = cluster.processes.record(node, "containerd")
    if record is None:
        raise EnvironmentProblem(f"cluster {cluster.name} did not start {name}: is it up?")
    proc.stop(cluster.layout.pids, [name])
    proc.start(name, record["argv"], Path(record["log"]), cluster.layout.pids)
    cluster.processes.wait(
        lambda: containerd.answers(node),
        bool,
        SHORT,
        f"the containerd of {node.name} to answer again",
    )


def restart_component(
    cluster: LocalCluster,
    node_name: str,
    component: str,
    bins: Binaries,
    env: dict[str, str] | None = None,
) -> None:
    """Stop one component of a node (``kube-apiserver``, ``kubelet``, ...) and start it again
    from ``bins`` (another release's binaries: an upgrade in place), with the command line
    kubelab gives it and ``env`` added to its environment; its data (etcd's) and its node's
    pods are kept. Returns once it runs; what it serves is for the caller to wait for."""
    node = cluster.node(node_name)
    cp = plan.control_plane(cluster.nodes())
    layout = cluster.layout
    argvs = {
        "etcd": lambda: components.etcd(bins, layout, cp),
        "kube-apiserver": lambda: components.kube_apiserver(bins, layout, cp),
        "kube-controller-manager": lambda: components.kube_controller_manager(bins, layout),
        "kube-scheduler": lambda: components.kube_scheduler(bins, layout),
        "kubelet": lambda: components.kubelet(bins, layout, node),
        "kube-proxy": lambda: components.kube_proxy(bins, layout, node),
    }
    if component not in argvs or (not node.control_plane and component in CONTROL_PLANE):
        raise UsageError(f"no component {component} on node {node.name}")
    argv = argvs[component]()
    proc.stop(layout.pids, [f"{node.short}-{component}"])
    cluster.processes.spawn(node, component, argv, env)


def component_binary(cluster: LocalCluster, node_name: str, component: str) -> str:
    """The program a running component was started from (its pid record's command line)."""
    node = cluster.node(node_name)
    record = cluster.processes.record(node, component)
    argv = record.get("argv") if record else None
    if not isinstance(argv, list):
        raise EnvironmentProblem(f"cluster {cluster.name} runs no {component} on {node.name}")
    return str(argv[argv.index("--") + 1])


def wait_for_kube_proxy(cluster: LocalCluster, node_name: str) -> None:
    """Until the node's kube-proxy has written its rules (120 s)."""
    node = cluster.node(node_name)
    cluster.processes.wait(
        lambda: netns.kube_proxy_synced(cleanup.NETNS_DIR / node.netns),
        bool,
        MEDIUM,
        f"the kube-proxy of {node.name} to write its rules",
    )


def wait_for_health(cluster: LocalCluster, node_name: str, component: str) -> None:
    """Until a control-plane component (etcd, kube-controller-manager, kube-scheduler) answers
    its health check on the node's loopback (120 s)."""
    node = cluster.node(node_name)
    url = HEALTH[component]

    def answer() -> str:
        try:
            return cluster.run_on_node(
                node.name, ["curl", "-sk", "--max-time", "2", url], timeout=ATTEMPT
            ).strip()
        except EnvironmentProblem as exc:
            return str(exc)

    cluster.processes.wait(
        answer,
        lambda text: text in ("ok", '{"health":"true","reason":""}', '{"health":"true"}'),
        MEDIUM,
        f"{component} on {node.name} to answer {url}",
    )


def record_release(cluster: LocalCluster, version: str) -> None:
    """Note that the cluster now runs Kubernetes ``version`` (after an upgrade in place), so
    that ``status`` says so and a run asking for that release reuses it."""
    files.update_meta(cluster.layout, k8s_version=version)
    cluster.release = releases.choose(version)


def switch_proxy_mode(cluster: LocalCluster, node_name: str, mode: str) -> None:
    """Start the node's kube-proxy again in ``mode`` (iptables or nftables), on the binary it
    runs, the node never without rules. kube-proxy started in a new mode deletes the other
    mode's rules before its first sync writes its own, and the node refuses Service traffic in
    between (docs/measurements.md). So the new one runs with only its mode's programs on its
    PATH (upstream's start-up cleanup is best effort: finding no other mode's program, it
    deletes nothing); once it has written its rules (120 s), upstream's own cleanup,
    ``kube-proxy --cleanup`` with only the old mode's programs on its PATH, deletes the old
    mode's."""
    node = cluster.node(node_name)
    mode = releases.choose_proxy_mode(mode)
    old = next(other for other in MODE_PROGRAMS if other != mode)
    config = cluster.layout.node_dirs(node).state / "kube-proxy.yaml"
    config.write_text(
        configs.kube_proxy_config(node, cluster.layout.kubeconfig_of("kube-proxy"), mode)
    )
    bins = Binaries(Path(component_binary(cluster, node.name, "kube-proxy")).parent)
    restart_component(cluster, node.name, "kube-proxy", bins, {"PATH": programs_of(cluster, mode)})
    wait_for_kube_proxy(cluster, node.name)
    kube_proxy = str(bins.path("kube-proxy"))
    cleanup_argv = ["env", f"PATH={programs_of(cluster, old)}", kube_proxy, "--cleanup"]
    cluster.run_on_node(node.name, [*cleanup_argv, f"--config={config}"], timeout=SHORT)


def programs_of(cluster: LocalCluster, mode: str) -> str:
    """A directory holding only ``mode``'s programs (links to the host's), as a PATH."""
    directory = cluster.layout.root / "programs" / mode
    directory.mkdir(parents=True, exist_ok=True)
    for program in MODE_PROGRAMS[mode]:
        found, link = shutil.which(program), directory / program
        if found and not link.is_symlink():
            link.symlink_to(found)
    return str(directory)


def record_proxy_mode(cluster: LocalCluster, mode: str) -> None:
    """Note that every kube-proxy now runs in ``mode`` (after a switch)."""
    files.update_meta(cluster.layout, proxy_mode=mode)
    cluster.proxy_mode = mode


def kube_proxy_iptables_rules(saved: str) -> int:
    """How many rules of an ``iptables-save`` are kube-proxy's: in one of its chains, or
    jumping to one (every KUBE- chain but the kubelet's own)."""
    return sum(
        1
        for line in saved.splitlines()
        if line.startswith("-A ") and set(KUBE_CHAIN.findall(line)) - KUBELET_CHAINS
    )


def proxy_rules(cluster: LocalCluster, node_name: str) -> dict[str, int]:
    """How many of kube-proxy's rules the node's iptables holds, and how many chains its
    nftables table (``ip kube-proxy``) has (0: no such table)."""
    saved = cluster.run_on_node(node_name, ["iptables-save"], timeout=SHORT)
    iptables = kube_proxy_iptables_rules(saved)
    tables = cluster.run_on_node(node_name, ["nft", "list", "tables"], timeout=SHORT)
    chains = 0
    if "table ip kube-proxy" in tables:
        listed = cluster.run_on_node(node_name, ["nft", "list", "table", "ip", "kube-proxy"], SHORT)
        chains = sum(1 for line in listed.splitlines() if line.strip().startswith("chain "))
    return {"iptables": iptables, "nftables": chains}
