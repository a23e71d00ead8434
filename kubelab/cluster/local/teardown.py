"""Remove everything a local cluster put on the host; works from state on disk after a crash."""

from __future__ import annotations

import contextlib
from pathlib import Path

from kubelab.cluster.local import cleanup, configs, network, plan, proc
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.plan import LocalNode

# stop order: clients before the servers they talk to; containerd last
STOP_ORDER = (
    "kube-proxy",
    "kubelet",
    "coredns",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
)


def netns_workers(cluster: str) -> int:
    """Highest worker index among the node netns that exist (to clean up an unknown plan)."""
    found = [n.rsplit("-w", 1)[1] for n in network.node_netns_names(cluster) if "-w" in n]
    return max((int(i) for i in found if i.isdigit()), default=0)


def _shim_sockets(run: Path) -> list[Path]:
    """containerd 1.6 shims listen under /run/containerd/s whatever the state dir: find ours."""
    out = []
    for address in run.glob("*/containerd/io.containerd.runtime.v2.task/*/*/address"):
        with contextlib.suppress(OSError):
            text = address.read_text().strip()
            if text.startswith("unix://"):
                out.append(Path(text.removeprefix("unix://")))
    return out


def teardown(layout: Layout, nodes: list[LocalNode]) -> None:
    """Processes, shims, containers (by cgroup), mounts, netns, links, rules, sysctls, files; logs stay."""
    run = plan.run_dir(layout.cluster)
    names = list(proc.records(layout.pids))
    for component in STOP_ORDER:
        proc.stop(layout.pids, [n for n in names if n.endswith("-" + component)])
    shim_sockets = _shim_sockets(run)
    for node in nodes:
        proc.kill_pids(proc.pids_matching(str(node.containerd_socket)))
    proc.stop(layout.pids, list(proc.records(layout.pids)))
    for node in nodes:
        cleanup.remove_cgroup(configs.cgroup_root(layout.cluster, node))
    # anything else still running from our files (a crash lost its pid record)
    leftover = [
        pid
        for needle in (layout.root / "nodes", layout.pki, run)
        for pid in proc.pids_matching(f"{needle}/")
    ]
    proc.kill_pids(leftover)
    for sock in shim_sockets:
        sock.unlink(missing_ok=True)
    cleanup.unmount_under([layout.root, run])
    network.teardown(layout.cluster, layout.host_state)
    cleanup.remove_cni_cache(configs.cni_network_name(layout.cluster))
    cleanup.remove_container_log_links([layout.root])
    cleanup.remove_tree(run)
    if plan.RUN_ROOT.is_dir() and not any(plan.RUN_ROOT.iterdir()):
        plan.RUN_ROOT.rmdir()
    for entry in sorted(layout.root.iterdir()) if layout.root.is_dir() else []:
        if entry == layout.logs:
            continue
        if entry.is_dir():
            cleanup.remove_tree(entry)
        else:
            entry.unlink()
