"""Host-side state the nodes leave behind: cgroup trees, mounts, CNI caches, log symlinks."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path

from kubelab.cluster.local.proc import reap
from kubelab.mounts import mounts, umount
from kubelab.waits import SHORT, wait_until

CGROUP_FS = ("cgroup", "cgroup2")
CNI_CACHE = Path("/var/lib/cni/results")
CONTAINER_LOG_LINKS = Path("/var/log/containers")
DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")  # hardcoded in the kubelet
NETNS_DIR = Path("/run/netns")
# host directories the nodes create outside their own dirs (paths hardcoded upstream)
HOST_DIRS = (
    Path("/var/lib/cni"),
    CNI_CACHE,
    Path("/var/lib/kubelet"),
    DEVICE_PLUGINS,
    CONTAINER_LOG_LINKS,
    NETNS_DIR,
)


def cgroup_hierarchies() -> list[Path]:
    """Mount points of every cgroup hierarchy (v1 controllers, name=systemd, the v2 unified one)."""
    return [Path(mp) for mp, fstype in mounts() if fstype in CGROUP_FS]


def create_cgroup(relative: str) -> None:
    """Create ``relative`` (e.g. /kubelab/c/w1) in every hierarchy; cpuset children inherit CPUs."""
    for hierarchy in cgroup_hierarchies():
        path = hierarchy
        for part in relative.strip("/").split("/"):
            parent, path = path, path / part
            if path.is_dir():
                continue
            path.mkdir()
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if (path / knob).exists() and not (path / knob).read_text().strip():
                    (path / knob).write_text((parent / knob).read_text())


def _cgroup_dirs(relative: str) -> list[Path]:
    """Every directory of the cgroup tree ``relative`` in every hierarchy, deepest first."""
    dirs: list[Path] = []
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / relative.strip("/")
        if top.is_dir():
            dirs += [Path(root) for root, _, _ in os.walk(top)]
    return sorted(dirs, key=lambda p: len(p.parts), reverse=True)


def _procs(dirs: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for d in dirs:
        try:
            pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
        except OSError:
            continue
    return pids


def remove_cgroup(relative: str) -> None:
    """Kill every process left in the tree ``relative`` (all hierarchies), then remove the tree."""

    def kill_remaining() -> set[int]:
        reap()
        pids = _procs(_cgroup_dirs(relative))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    wait_until(
        kill_remaining,
        lambda pids: not pids,
        timeout=SHORT,
        what=f"processes in cgroup {relative} to exit",
        interval=0.2,
    )
    for d in _cgroup_dirs(relative):
        # a container's runc, exiting with it, may remove its own cgroup first: gone is done
        with contextlib.suppress(FileNotFoundError):
            d.rmdir()
    # parents we created (e.g. /kubelab/<cluster>, /kubelab) go too once empty
    parts = relative.strip("/").split("/")
    for depth in range(len(parts) - 1, 0, -1):
        for hierarchy in cgroup_hierarchies():
            parent = hierarchy.joinpath(*parts[:depth])
            if parent.is_dir() and not any(p.is_dir() for p in parent.iterdir()):
                with contextlib.suppress(FileNotFoundError):
                    parent.rmdir()


def sandbox_ids(containerd_roots: Iterable[Path]) -> list[str]:
    """Ids of the pod sandboxes the given containerd roots know (their CNI cache files carry them)."""
    ids = []
    for root in containerd_roots:
        sandboxes = root / "io.containerd.grpc.v1.cri" / "sandboxes"
        ids += [p.name for p in sandboxes.iterdir()] if sandboxes.is_dir() else []
    return ids


def remove_cni_cache(ids: Iterable[str]) -> None:
    """Remove libcni's cached results (pod network and loopback) of our pod sandboxes."""
    if not CNI_CACHE.is_dir():
        return
    for sandbox in ids:
        for entry in CNI_CACHE.glob(f"*-{sandbox}-*"):
            entry.unlink(missing_ok=True)


def absent_host_dirs() -> list[str]:
    """Which of HOST_DIRS do not exist yet (recorded before up, removed again by down)."""
    return [str(d) for d in HOST_DIRS if not d.exists()]


def remove_host_dirs(created: Iterable[str]) -> None:
    """Remove the HOST_DIRS that up created, once nothing else lives in them."""
    dirs = [Path(p) for p in created]
    if DEVICE_PLUGINS in dirs:
        remove_tree(DEVICE_PLUGINS)  # only our kubelets' kubelet.sock can be in it
    if NETNS_DIR in dirs and NETNS_DIR.is_dir() and not any(NETNS_DIR.iterdir()):
        while NETNS_DIR in {Path(mp) for mp, _ in mounts()}:
            umount(NETNS_DIR)  # `ip netns add` bind-mounts it onto itself
    for path in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def remove_container_log_links(roots: Iterable[Path]) -> None:
    """Remove the kubelet's /var/log/containers symlinks that point into our pod log dirs."""
    if not CONTAINER_LOG_LINKS.is_dir():
        return
    prefixes = tuple(str(r) + "/" for r in roots)
    for link in CONTAINER_LOG_LINKS.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(prefixes):
            link.unlink()


def remove_tree(path: Path) -> None:
    """rm -rf, after mounts below it are gone."""
    if path.exists():
        shutil.rmtree(path)
