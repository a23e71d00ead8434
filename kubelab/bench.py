"""``tox -e bench``: the local cluster's figures, each measured now on this machine.

Boots a local cluster from nothing (to all nodes Ready and cluster DNS answering) three times
and takes the median; then, on the last one, warm, runs the full lab serially, the full lab
with pytest-xdist, and the same lab as a plain kubectl + curl script (``scripts/lab.sh``), and
prints each time with the ratio of the suite to the script. ``--cold`` adds a build with empty
Go caches (tens of minutes). A run in which everything passed rewrites ``docs/measurements.md``
with its figures, dated, keeping that file's section of figures measured by other means.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from kubelab import commands
from kubelab.build import Binaries, ensure_binaries, ensure_runtime
from kubelab.cluster.local import LocalCluster
from kubelab.console import say
from kubelab.paths import cache_dir
from kubelab.waits import COLD, LONG

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "lab.sh"
MEASUREMENTS = ROOT / "docs" / "measurements.md"
# Kept from the file a run rewrites: the figures no bench run measures (a fresh machine's tox).
BY_OTHER_MEANS = "\n## Measured by other means\n"
# The bench's targets: seconds, except the ratio of the serial suite to the script.
TARGETS = {"boot": 8.0, "serial": 45.0, "parallel": 30.0, "ratio": 1.2}
BOOTS = 3
PARALLEL = "2"  # xdist workers: one per core
# The script drives the cluster with kubectl, which the local cluster itself never builds.
SCRIPT_BINARIES = ("kubectl",)


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
    say(f"[bench] {what} ...")
    started, busy = time.monotonic(), _busy()
    try:
        action()
    except NotPassed:
        FAILED.append(what)
    elapsed = time.monotonic() - started
    BUSY[what] = _busy() - busy
    say(f"[bench] {what}: {elapsed:.1f} s{' (FAILED)' if what in FAILED else ''}")
    return elapsed


def build(cache: Path) -> Binaries:
    """Build whatever a bench run needs that ``cache`` lacks (a warm cache builds nothing): the
    local cluster's Kubernetes, etcd, CoreDNS, containerd and runc, and the script's kubectl."""
    ensure_runtime(cache)
    return ensure_binaries(cache, extra=SCRIPT_BINARIES)


def _cold_build() -> None:
    with tempfile.TemporaryDirectory(prefix="kubelab-cold-") as tmp:
        # Empty build and module caches: every module is downloaded and every package compiled.
        os.environ.update(GOCACHE=f"{tmp}/go-build", GOMODCACHE=f"{tmp}/mod")
        try:
            build(Path(tmp) / "cache")
        finally:
            commands.run(["chmod", "-R", "u+w", tmp], timeout=LONG)  # modcache is read-only
            os.environ.pop("GOCACHE")
            os.environ.pop("GOMODCACHE")


def rollout_lines(junit: Path) -> list[str]:
    """The rollout summaries a lab run recorded (``traffic`` properties in its JUnit XML)."""
    root = ElementTree.parse(junit).getroot()
    return [p.get("value", "") for p in root.iter("property") if p.get("name") == "traffic"]


class NotPassed(Exception):
    """A timed run exited non-zero: its time is no figure (``status``: its exit status)."""

    def __init__(self, argv: list[str], status: int) -> None:
        super().__init__(f"{' '.join(argv)} exited with status {status}")
        self.status = status


def run_to_pass(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run a timed lab run to its end (commands.run_child: a Ctrl-C lets it clean up first);
    NotPassed unless it exits 0."""
    status = commands.run_child(argv, timeout=COLD, cwd=ROOT, env=env)
    if status:
        raise NotPassed(argv, status)


def _lab(*extra: str) -> None:
    run_to_pass(
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
        ]
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
    run_to_pass(["bash", str(SCRIPT)], env)


@dataclass
class Run:
    """One bench run's figures: seconds by name (``ratio``: serial over script), each boot,
    the machine's busy CPU-seconds during the timed lab runs, and the rollouts' summaries."""

    figures: dict[str, float]
    boots: list[float]
    busy: dict[str, float]
    workers: str
    cores: int
    rollouts: list[str] = field(default_factory=list)
    date: datetime.date = field(default_factory=datetime.date.today)


def verdict(name: str, value: float) -> str:
    """``<= 8 s: met`` (or ``MISSED``) for a figure with a target; empty without one."""
    target = TARGETS.get(name)
    if target is None:
        return ""
    unit = "x" if name == "ratio" else " s"
    return f"<= {target:g}{unit}: {'met' if value <= target else 'MISSED'}"


def rows(run: Run) -> list[tuple[str, str, str]]:
    """(figure, measured, target) for each of the run's figures, in the order measured."""
    found = []
    for name, value in run.figures.items():
        unit = "x" if name == "ratio" else " s"
        label = f"parallel -n {run.workers}" if name == "parallel" else name
        note = f" (median of {', '.join(f'{b:.1f}' for b in run.boots)})" if name == "boot" else ""
        if name in run.busy:  # what the machine spent: the floor of any run doing the same work
            busy = run.busy[name]
            note = f" ({busy:.1f} CPU-s, {100 * busy / value / run.cores:.0f} % busy)"
        found.append((label, f"{value:.2f}{unit}{note}", verdict(name, value)))
    return found


def floor_line(run: Run) -> str:
    """The serial run's floor: the machine's busy CPU-seconds over all its cores."""
    return (
        f"floor {run.busy['serial'] / run.cores:.1f} s: the machine's busy CPU-seconds during the "
        f"serial run over all {run.cores} cores (on an otherwise idle machine, no run doing the "
        "same work can be faster, whatever its workers)"
    )


def summary(run: Run) -> str:
    """The run's figures as the terminal shows them."""
    lines = [f"kubelab bench ({run.cores} cores here)"]
    for label, measured, target in rows(run):
        lines.append(f"  {label:<13} {measured}{f'  (target {target})' if target else ''}")
    lines += [floor_line(run), "rollouts (serial run):", *(f"  {r}" for r in run.rollouts)]
    return "\n".join(lines)


def measurements(run: Run, earlier: str = "") -> str:
    """``docs/measurements.md`` for ``run``, keeping the section of figures measured by other
    means from ``earlier`` (the file as it was)."""
    table = "\n".join(
        f"| {label} | {measured} | {target} |" for label, measured, target in rows(run)
    )
    kept = earlier.partition(BY_OTHER_MEANS)
    rollouts = "\n".join(f"- {r}" for r in run.rollouts) or "- none recorded"
    return (
        "# Measurements\n\n"
        "Written by `tox -e bench` (`kubelab/bench.py`); run it, with no local cluster up, to "
        "measure again on your machine. Compare figures within one run: a machine's speed "
        "varies between runs.\n\n"
        f"## `tox -e bench` on {run.date.isoformat()} ({run.cores} cores)\n\n"
        "Boot: from nothing to every node Ready and cluster DNS answering, the median of "
        f"{len(run.boots)} boots. Then, on the last cluster, warm: the lab as a plain kubectl + "
        "curl script (`scripts/lab.sh`), the full lab serially, and the full lab with "
        f"pytest-xdist (`-n {run.workers}`).\n\n"
        "| figure | measured | target |\n|---|---|---|\n"
        f"{table}\n\n{floor_line(run)}.\n\nRollouts (serial run):\n\n{rollouts}\n"
        + (BY_OTHER_MEANS + kept[2] if kept[1] else "")
    )


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
        say(
            "kubelab bench: a local cluster is up; bench times a boot from nothing and never "
            "takes down a cluster it did not start: run `kubelab local down` first",
            sys.stderr,
        )
        return 1
    figures: dict[str, float] = {}
    if args.cold:
        figures["cold build"] = _timed("cold build (empty Go caches)", _cold_build)
    bins = build(cache_dir())
    kubectl = bins.path("kubectl")
    if not kubectl.is_file():
        say(f"kubelab bench: the script needs kubectl at {kubectl}", sys.stderr)
        return 1
    # A boot's time varies widely from one to the next (the API server's start is CPU-bound):
    # the median of BOOTS, each from nothing; the lab runs on the last one.
    boots = []
    for n in range(1, BOOTS + 1):
        if n > 1:
            cluster.down()
        boots.append(
            _timed(f"boot {n} of {BOOTS}: up to all nodes Ready and DNS answering", cluster.up)
        )
    figures["boot"] = statistics.median(boots)
    try:
        from kubelab.cluster.local.provider import LocalProvider

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
    run = Run(
        figures=figures,
        boots=boots,
        busy={"script": BUSY[script], "serial": BUSY[serial], "parallel": BUSY[parallel]},
        workers=args.workers,
        cores=os.cpu_count() or 1,
        rollouts=rollouts,
    )
    print(f"\n{summary(run)}")  # the bench's result, on stdout
    if FAILED:
        say(f"kubelab bench: FAILED, so not figures: {'; '.join(FAILED)}", sys.stderr)
        return 1
    earlier = MEASUREMENTS.read_text() if MEASUREMENTS.is_file() else ""
    MEASUREMENTS.write_text(measurements(run, earlier))
    say(f"[bench] written to {MEASUREMENTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
