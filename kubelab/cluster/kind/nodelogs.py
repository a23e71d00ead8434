"""Each kind node container's own output, streamed to files while a cluster is created."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from kubelab import commands


@contextlib.contextmanager
def followed_node_logs(cluster_name: str, out: Path) -> Iterator[None]:
    """Each node container's output (kind's entrypoint, then systemd) streamed into
    ``out/<node>.log`` while the block runs.

    ``kind create cluster`` deletes its nodes when it fails, their logs with them; what was
    streamed stays.
    """
    out.mkdir(parents=True, exist_ok=True)
    followers: dict[str, subprocess.Popen[str]] = {}
    stop = threading.Event()

    def follow() -> None:
        label = f"label=io.x-k8s.kind.cluster={cluster_name}"
        while not stop.wait(0.5):
            try:
                listed = commands.query(
                    ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"]
                )
            except (OSError, commands.CommandFailed):  # no docker CLI, or a stuck engine
                continue
            names = (listed or "").split()
            for name in names:
                follower = followers.get(name)
                # Listed a moment before `docker logs` finds it: asked again until it does.
                if follower is not None and follower.poll() in (None, 0):
                    continue
                with (out / f"{name}.log").open("wb") as sink:  # a retry starts the file afresh
                    followers[name] = commands.spawn(["docker", "logs", "-f", name], output=sink)

    thread = threading.Thread(target=follow, name="kind-node-logs", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for follower in followers.values():
            follower.terminate()
            follower.wait()


def entrypoint_lines(log_file: Path) -> list[str]:
    """What kind's entrypoint said on a node (its INFO/WARN/ERROR lines)."""
    text = log_file.read_text(errors="replace") if log_file.exists() else ""
    return [line for line in text.splitlines() if line.startswith(("INFO:", "WARN:", "ERROR:"))]
