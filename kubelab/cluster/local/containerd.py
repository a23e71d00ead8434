"""Each node's containerd, through kubelab's ``ctr``: whether it answers, which images it has,
and images imported into it from OCI archives (nothing is pulled)."""

from __future__ import annotations

import json
import logging
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubelab import commands, paths
from kubelab.build import Runtime
from kubelab.build.runtime import runtime_dir
from kubelab.cluster.local.plan import LocalNode
from kubelab.errors import EnvironmentProblem
from kubelab.waits import ATTEMPT, LONG

log = logging.getLogger(__name__)

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def archive_images(archive: Path) -> dict[str, str]:
    """Name -> manifest digest of each named image in an OCI archive (its ``index.json``)."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.load(member) if member else {}
    names = {}
    for manifest in index.get("manifests", []):
        annotations = manifest.get("annotations") or {}
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME)
        if name and "/" in name:  # a full reference, as ctr names the image it imports
            names[name] = manifest["digest"]
    return names


def parse_ctr_images(listing: str) -> dict[str, str]:
    """Name -> digest from ``ctr images ls`` (REF TYPE DIGEST SIZE PLATFORMS LABELS)."""
    rows = [line.split() for line in listing.splitlines()[1:]]
    return {row[0]: row[2] for row in rows if len(row) > 2 and row[2].startswith("sha256:")}


def ctr_path() -> Path:
    """``ctr`` of kubelab's runtime (built by ``up``)."""
    return Runtime(runtime_dir(paths.cache_dir())).path("ctr")


def ctr(node: LocalNode) -> list[str]:
    """``ctr`` of kubelab's runtime, pointed at the node's containerd (CRI namespace)."""
    return [str(ctr_path()), "--address", str(node.containerd_socket), "--namespace", "k8s.io"]


def answers(node: LocalNode) -> bool:
    """The node's containerd answers ``ctr version`` (within 5 s, ATTEMPT)."""
    try:
        commands.run([*ctr(node), "version"], timeout=ATTEMPT)
    except EnvironmentProblem:
        return False
    return True


def node_images(node: LocalNode) -> dict[str, str]:
    """Name -> manifest digest of every named image in the node's CRI containerd."""
    return parse_ctr_images(commands.run([*ctr(node), "images", "ls"]))


def running_containers(node: LocalNode) -> list[str]:
    """Full ids of the app containers running in the node's containerd (not the sandboxes)."""
    app = 'labels."io.cri-containerd.kind"==container'  # not the pause sandboxes
    ids = set(commands.run([*ctr(node), "containers", "ls", "--quiet", app]).split())
    tasks = commands.run([*ctr(node), "tasks", "ls"]).splitlines()[1:]
    running = {t.split()[0] for t in tasks if t.split()[-1:] == ["RUNNING"]}
    return sorted(ids & running)


def import_archives(nodes: list[LocalNode], archives: list[Path]) -> None:
    """Import every archive into every node's containerd, the nodes at once (300 s each)."""
    with ThreadPoolExecutor(max_workers=len(nodes) or 1) as pool:
        for future in [
            pool.submit(import_archive, ctr_path(), n.containerd_socket, a)
            for n in nodes
            for a in archives
        ]:
            future.result()


def import_where_missing(nodes: list[LocalNode], archive: Path) -> None:
    """Import ``archive`` into each of ``nodes`` that lacks one of its images, by name and
    digest (300 s)."""
    wanted = archive_images(archive)
    import_archives(
        [n for n in nodes if not (wanted and wanted.items() <= node_images(n).items())],
        [archive],
    )


def import_archive(
    ctr: Path,
    containerd_socket: Path,
    archive: Path,
    *,
    namespace: str = "k8s.io",
    snapshotter: str = "overlayfs",
    timeout: float = LONG,
) -> None:
    """Import an OCI archive into a containerd and unpack it for the CRI (timeout 300 s)."""
    cmd = [
        str(ctr),
        "--address",
        str(containerd_socket),
        "--namespace",
        namespace,
        "images",
        "import",
        "--no-unpack=false",
        "--snapshotter",
        snapshotter,
        str(archive),
    ]
    started = time.monotonic()
    commands.run(cmd, timeout=timeout, what=f"importing {archive.name} into {containerd_socket}")
    log.info(
        "imported %s into %s in %.1f s", archive.name, containerd_socket, time.monotonic() - started
    )
