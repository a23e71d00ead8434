"""Remove everything a local cluster put on the host; works from state on disk after a crash."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

from kubelab.cluster.local import cleanup, configs, network, plan, proc
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.plan import LocalNode
from kubelab.errors import EnvironmentProblem
from kubelab.mounts import unmount_under

# stop order: clients before the servers they talk to; containerd last
STOP_ORDER = (
    "kube-proxy",
    "kubelet",
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
    """Processes, shims, containers (by cgroup), mounts, netns, links, rules, sysctls, files; logs stay.

    Every step runs even if an earlier one failed; the first failure is raised at the end.
    """
    run = plan.run_dir(layout.cluster)
    errors: list[str] = []

    def step(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001  (every step runs; the first failure is raised)
            errors.append(f"{what}: {exc}")

    names = list(proc.records(layout.pids))
    for component in STOP_ORDER:
        mine = [n for n in names if n.endswith("-" + component)]
        step(f"stop {component}", partial(proc.stop, layout.pids, mine))
    shim_sockets = _shim_sockets(run)
    for node in nodes:
        step(f"kill shims of {node.name}", partial(_kill_matching, str(node.containerd_socket)))
    step("stop containerd", lambda: proc.stop(layout.pids, list(proc.records(layout.pids))))
    for node in nodes:
        root = configs.cgroup_root(layout.cluster, node)
        step(f"remove cgroup {root}", partial(cleanup.remove_cgroup, root))
    # anything else still running from our files (a crash lost its pid record)
    leftover = [
        pid
        for needle in (layout.root / "nodes", layout.pki, run)
        for pid in proc.pids_matching(f"{needle}/")
    ]
    step("kill leftover processes", lambda: proc.kill_pids(leftover))
    for sock in shim_sockets:
        sock.unlink(missing_ok=True)
    step("unmount", lambda: unmount_under([layout.root, run]))
    step("network", lambda: network.teardown(layout.cluster, layout.host_state))
    sandboxes = cleanup.sandbox_ids(layout.node_dirs(n).containerd_root for n in nodes)
    step("CNI cache", lambda: cleanup.remove_cni_cache(sandboxes))
    step("log links", lambda: cleanup.remove_container_log_links([layout.root]))
    step("host dirs", lambda: cleanup.remove_host_dirs(_created_host_dirs(layout)))
    survivors = proc.survivors(layout.pids)
    if survivors:
        # Their records stay, so that the next `up` is refused rather than booting beside them
        # and the next `down` stops them.
        errors.insert(
            0,
            f"{'; '.join(survivors)} survived SIGKILL (a process in uninterruptible sleep, "
            "state D, waits for its I/O first): run `kubelab local down` again once it has "
            "exited",
        )
    step("runtime dir", lambda: _remove_files(layout, run, keep=layout.pids if survivors else None))
    if errors:
        raise EnvironmentProblem(
            f"down left something behind: {errors[0]} (+{len(errors) - 1} more)"
        )


def _created_host_dirs(layout: Layout) -> list[str]:
    try:
        return list(json.loads(layout.host_dirs.read_text()))
    except (OSError, ValueError):
        return []


def record_host_dirs(layout: Layout) -> None:
    """Before up touches the host: note which shared host dirs do not exist yet (down removes them)."""
    if not layout.host_dirs.exists():  # a half-failed earlier up already recorded the truth
        layout.host_dirs.write_text(json.dumps(cleanup.absent_host_dirs()))


def _kill_matching(needle: str) -> None:
    proc.kill_pids(proc.pids_matching(needle))


def _remove_files(layout: Layout, run: Path, keep: Path | None) -> None:
    cleanup.remove_tree(run)
    if plan.RUN_ROOT.is_dir() and not any(plan.RUN_ROOT.iterdir()):
        plan.RUN_ROOT.rmdir()
    for entry in sorted(layout.root.iterdir()) if layout.root.is_dir() else []:
        if entry in (layout.logs, keep):
            continue
        if entry.is_dir():
            cleanup.remove_tree(entry)
        else:
            entry.unlink()
