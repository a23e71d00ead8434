"""``tox -e bench``: the local cluster's figures, each measured now on this machine.

Boots a local cluster from nothing (to all nodes Ready and cluster DNS answering) three times
and takes the median; then, on the last one, warm, runs the full lab serially, the full lab
with pytest-xdist, and the same lab as a plain kubectl + curl script (``scripts/lab.sh``), and
prints each time with the ratio of the suite to the script. ``--cold`` adds a build with empty
Go caches (tens of minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from kubelab.build import ensure_binaries
from kubelab.cluster.local import LocalCluster
from kubelab.paths import cache_dir

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "lab.sh"
# The targets of DESIGN.md: seconds, except the ratio of the serial suite to the script.
TARGETS = {"boot": 8.0, "serial": 45.0, "parallel": 30.0, "ratio": 1.2}
BOOTS = 3
# xdist workers: one per core. With shares, alternating on one warm cluster: -n 2 39.5 and
# 41.6 s, -n 4 41.1 and 44.0 s.
PARALLEL = "2"
RUN_TIMEOUT = 900.0


FAILED: list[str] = []  # the runs that did not pass: their times are no figures
BUSY: dict[str, float] = {}  # CPU-seconds the whole machine spent busy during each timed step


def busy_seconds(stat: str, ticks_per_second: int) -> float:
    """CPU-seconds all cores have been busy since boot, from ``/proc/stat``'s text: its first
    line's user, nice, system, irq, softirq and steal (idle and iowait are not busy; guest time
    is already counted in user)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks_per_second


def _busy() -> float:
    return busy_seconds(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))


def _timed(what: str, action: Callable[[], object]) -> float:
    print(f"[bench] {what} ...", flush=True)
    started, busy = time.monotonic(), _busy()
    try:
        action()
    except subprocess.CalledProcessError:
        FAILED.append(what)
    elapsed = time.monotonic() - started
    BUSY[what] = _busy() - busy
    print(f"[bench] {what}: {elapsed:.1f} s{' (FAILED)' if what in FAILED else ''}", flush=True)
    return elapsed


def _cold_build() -> None:
    with tempfile.TemporaryDirectory(prefix="kubelab-cold-") as tmp:
        # Empty build and module caches: every module is downloaded and every package compiled.
        os.environ.update(GOCACHE=f"{tmp}/go-build", GOMODCACHE=f"{tmp}/mod")
        try:
            ensure_binaries(Path(tmp) / "cache")
        finally:
            subprocess.run(
                ["chmod", "-R", "u+w", tmp], check=True, timeout=300
            )  # modcache is read-only
            os.environ.pop("GOCACHE")
            os.environ.pop("GOMODCACHE")


def rollout_lines(junit: Path) -> list[str]:
    """The rollout summaries a lab run recorded (``traffic`` properties in its JUnit XML)."""
    root = ElementTree.parse(junit).getroot()
    return [p.get("value", "") for p in root.iter("property") if p.get("name") == "traffic"]


def _lab(*extra: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "steps",
            "--cluster=local",
            "-q",
            "-p",
            "no:cacheprovider",
            *extra,
        ],
        cwd=ROOT,
        check=True,
        timeout=RUN_TIMEOUT,
    )


def on_node_shim(cluster: LocalCluster, path: Path) -> Path:
    """Write the script's ON_NODE command for ``cluster``: ``on-node NODE CMD...`` runs CMD in
    the node's network namespace with ``ctr`` pointed at the node's containerd."""
    cases = "\n".join(
        f"  {n.name}) netns={n.netns} sock={n.containerd_socket} ;;" for n in cluster.nodes()
    )
    path.write_text(
        "#!/bin/sh\n"
        "node=$1; shift\ncase $node in\n"
        f"{cases}\n"
        '  *) echo "on-node: no node $node" >&2; exit 2 ;;\nesac\n'
        'CONTAINERD_ADDRESS=$sock CONTAINERD_NAMESPACE=k8s.io exec ip netns exec "$netns" "$@"\n'
    )
    path.chmod(0o700)
    return path


def _script(cluster: LocalCluster, kubectl: Path, tmp: Path) -> None:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "KUBECTL": str(kubectl),
        "ON_NODE": str(on_node_shim(cluster, tmp / "on-node")),
    }
    subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, check=True, timeout=RUN_TIMEOUT)


def _verdict(name: str, value: float) -> str:
    target = TARGETS.get(name)
    if target is None:
        return ""
    return f"  (target <= {target:g}: {'met' if value <= target else 'MISSED'})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelab-bench", description=__doc__)
    parser.add_argument(
        "--cold", action="store_true", help="also time a cold build (tens of minutes)"
    )
    parser.add_argument(
        "-n", dest="workers", default=PARALLEL, help=f"xdist workers (default {PARALLEL})"
    )
    args = parser.parse_args(argv)
    cluster = LocalCluster()
    if cluster.has_processes():
        print(
            "kubelab bench: a local cluster is up; bench times a boot from nothing and never "
            "takes down a cluster it did not start: run `kubelab local down` first",
            file=sys.stderr,
        )
        return 1
    figures: dict[str, float] = {}
    if args.cold:
        figures["cold build"] = _timed("cold build (empty Go caches)", _cold_build)
    bins = ensure_binaries(cache_dir())
    kubectl = bins.path("kubectl")
    if not kubectl.is_file():
        print(f"kubelab bench: the script needs kubectl at {kubectl}", file=sys.stderr)
        return 1
    # One boot varies 7-21 s here (the API server's CPU-bound start alone 1.3-6.6 s): the
    # median of BOOTS, each from nothing; the lab runs on the last one.
    boots = []
    for n in range(1, BOOTS + 1):
        if n > 1:
            cluster.down()
        boots.append(
            _timed(f"boot {n} of {BOOTS}: up to all nodes Ready and DNS answering", cluster.up)
        )
    figures["boot"] = statistics.median(boots)
    try:
        from kubelab.cluster.local_provider import LocalProvider

        # The lab's images on every node first, so that no figure below includes importing them.
        _timed("images onto the nodes", LocalProvider(ROOT / "app", 3, None).setup)
        with tempfile.TemporaryDirectory(prefix="kubelab-bench-") as tmp:
            script = "the lab as a kubectl + curl script"
            figures["script"] = _timed(script, lambda: _script(cluster, kubectl, Path(tmp)))
            junit = Path(tmp) / "serial.xml"
            serial = "full lab, serial"
            figures["serial"] = _timed(serial, lambda: _lab(f"--junitxml={junit}"))
            rollouts = rollout_lines(junit) if junit.is_file() else []
            parallel = f"full lab, {args.workers} xdist workers"
            figures["parallel"] = _timed(parallel, lambda: _lab("-n", args.workers))
    finally:
        cluster.down()
    figures["ratio"] = figures["serial"] / figures["script"]
    cores = os.cpu_count() or 1
    busy = {"script": BUSY[script], "serial": BUSY[serial], "parallel": BUSY[parallel]}
    print(f"\nkubelab bench ({cores} cores here; targets from DESIGN.md)")
    for name, value in figures.items():
        unit = "x" if name == "ratio" else "s"
        label = f"parallel -n {args.workers}" if name == "parallel" else name
        spread = f" (median of {', '.join(f'{b:.1f}' for b in boots)})" if name == "boot" else ""
        if name in busy:  # what the machine spent: the floor of any run doing the same work
            spread = f" [{busy[name]:.1f} CPU-s, {100 * busy[name] / value / cores:.0f} % busy]"
        print(f"  {label:<13} {value:7.2f} {unit}{_verdict(name, value)}{spread}")
    print(
        f"floor {busy['serial'] / cores:.1f} s: the machine's busy CPU-seconds during the serial "
        f"run over all {cores} cores (on an otherwise idle machine, no run doing the same work "
        "can be faster, whatever its workers)"
    )
    print("rollouts (serial run):")
    for line in rollouts:
        print(f"  {line}")
    if FAILED:
        print(f"FAILED, so not figures: {'; '.join(FAILED)}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    raise SystemExit(main())
