"""The cluster's long-lived processes: one process group each, pid files."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict, cast

from kubelab import commands
from kubelab.waits import SHORT, wait_until

# Not a tier: the grace a process gets after SIGTERM before SIGKILL (the wait after SIGKILL is
# SHORT): a grace, like changes.STOP_GRACE, not a wait for work to finish.
STOP_TIMEOUT = 10.0


class Record(TypedDict):
    """A process's pid file: its pid, its start time (which tells it from a later process given
    the same pid), how it was started and where it logs."""

    pid: int
    start: str | None
    argv: list[str]
    log: str


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """argv run in a node's network namespace only (same mount namespace as the host)."""
    # Not `ip netns exec`: it makes a private mount namespace, so the kubelet's tmpfs volume
    # mounts would be invisible to containerd/runc and containers would see empty volumes.
    # By its path: a component may run with a PATH of its own (changing.switch_proxy_mode).
    return [shutil.which("nsenter") or "nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def start(
    name: str, argv: Sequence[str], log: Path, pid_dir: Path, env: dict[str, str] | None = None
) -> int:
    """Start a long-lived process in its own process group; log to ``log``; record its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_dir.mkdir(parents=True, exist_ok=True)
    child = commands.spawn(argv, output=log, env={**os.environ, **(env or {})})
    record: Record = {
        "pid": child.pid,
        "start": commands.start_time(child.pid),
        "argv": list(argv),
        "log": str(log),
    }
    (pid_dir / f"{name}.json").write_text(json.dumps(record))
    return child.pid


def _alive(record: Record) -> bool:
    pid = record["pid"]
    start_time = commands.start_time(pid)
    if start_time is None or start_time != record.get("start"):
        return False  # gone, or the pid was reused by another process
    return commands.running(pid)


def records(pid_dir: Path) -> dict[str, Record]:
    """The pid records of a cluster, by process name."""
    out = {}
    for path in sorted(pid_dir.glob("*.json")) if pid_dir.is_dir() else []:
        try:
            out[path.stem] = cast(Record, json.loads(path.read_text()))  # written by start()
        except (OSError, ValueError):
            continue
    return out


def dead(pid_dir: Path) -> list[str]:
    """Names of recorded processes that are no longer running."""
    return [name for name, rec in records(pid_dir).items() if not _alive(rec)]


def survivors(pid_dir: Path) -> list[str]:
    """Recorded processes still running, each with its pid and state ("w1-kubelet, pid 4242,
    state D")."""
    return [
        f"{name}, pid {rec['pid']}, state {commands.process_state(rec['pid'])}"
        for name, rec in records(pid_dir).items()
        if _alive(rec)
    ]


def reap() -> None:
    """Collect exited children so they do not linger as zombies in our own process."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(pid_dir: Path, names: Sequence[str]) -> None:
    """SIGTERM the process groups of ``names``, then SIGKILL whatever is left after a grace period."""
    recs = records(pid_dir)
    targets = {n: recs[n] for n in names if n in recs and _alive(recs[n])}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for rec in targets.values():
            pid = rec["pid"]
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill(pid, sig)
        try:
            wait_until(
                lambda: _reap_and_filter(targets),
                lambda alive: not alive,
                timeout=STOP_TIMEOUT if sig == signal.SIGTERM else SHORT,
                what=f"processes {', '.join(targets)} to exit",
                interval=0.1,
            )
            break
        except Exception:
            if sig == signal.SIGKILL:
                raise
    for name in names:
        (pid_dir / f"{name}.json").unlink(missing_ok=True)


def pids_matching(needle: str) -> list[int]:
    """Pids of processes whose command line contains ``needle`` (e.g. our containerd socket path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found


def kill_pids(pids: Sequence[int]) -> None:
    """SIGKILL pids and wait until they are gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: _reap_and_filter_pids(pids),
        lambda alive: not alive,
        timeout=SHORT,
        what=f"pids {pids} to exit",
        interval=0.1,
    )


def _reap_and_filter(targets: dict[str, Record]) -> list[str]:
    reap()
    return [name for name, rec in targets.items() if _alive(rec)]


def _reap_and_filter_pids(pids: Sequence[int]) -> list[int]:
    reap()
    return [p for p in pids if commands.running(p)]
