"""Images into a node's containerd: ``ctr images import`` of an OCI archive (nothing is pulled)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kubelab import commands

log = logging.getLogger(__name__)

IMPORT_TIMEOUT = 300.0


def import_archive(
    ctr: Path,
    containerd_socket: Path,
    archive: Path,
    *,
    namespace: str = "k8s.io",
    snapshotter: str = "overlayfs",
    timeout: float = IMPORT_TIMEOUT,
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
