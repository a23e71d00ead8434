"""``tox -e matrix``: the whole lab on the local cluster at every supported release and in each
kube-proxy mode, one fresh cluster each, and one table: release, mode, scenarios passed, wall
time. A run of every release and mode writes the table, dated, into its own section of
``docs/measurements.md`` (the rest of the file is ``tox -e bench``'s). Exits non-zero unless
every cell passed."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from kubelab import commands, releases, signals
from kubelab.bench import MEASUREMENTS
from kubelab.cluster.local import LocalCluster
from kubelab.console import say
from kubelab.errors import KubelabError
from kubelab.waits import COLD

ROOT = Path(__file__).resolve().parents[1]
# The matrix's section of docs/measurements.md lies between these lines, after bench's
# "Measured by other means" (which a bench run keeps as it is); nothing else there is touched.
README = MEASUREMENTS.parents[1] / "README.md"
SECTION_START = "<!-- written by tox -e matrix (kubelab/matrix.py): edit outside this section -->"
SECTION_END = "<!-- end of the section written by tox -e matrix -->"


@dataclass(frozen=True)
class Cell:
    """One run of the lab: which release and mode, how many scenarios passed of how many."""

    version: str
    mode: str
    passed: int
    total: int
    seconds: float
    timed_out: bool = False  # killed after COLD: counted as failed

    @property
    def ok(self) -> bool:
        """Every scenario of the cell passed."""
        return not self.timed_out and self.total > 0 and self.passed == self.total

    @property
    def outcome(self) -> str:
        """'14 of 14', or that the run timed out."""
        if self.timed_out:
            return f"failed: timed out after {COLD:.0f} s"
        return f"{self.passed} of {self.total}"


def counts(junit: Path) -> tuple[int, int]:
    """(passed, total) of a JUnit file: total tests less failures, errors and skips."""
    if not junit.is_file():
        return 0, 0
    root = ElementTree.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return 0, 0
    total = int(suite.get("tests", "0"))
    lost = sum(int(suite.get(key, "0")) for key in ("failures", "errors", "skipped"))
    return total - lost, total


def table(cells: list[Cell]) -> str:
    """The matrix as a Markdown table."""
    lines = [
        "| release | kube-proxy | scenarios passed | wall time |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.version} | {c.mode} | {c.outcome} | {c.seconds:.0f} s |" for c in cells]
    return "\n".join(lines)


def run_cell(version: str, mode: str, pytest_args: list[str]) -> Cell:
    """The lab on a new local cluster of ``version`` in ``mode`` (brought up and down by the
    run itself)."""
    say(f"[matrix] Kubernetes {version}, kube-proxy {mode}")
    with tempfile.TemporaryDirectory(prefix="kubelab-matrix-") as tmp:
        junit = Path(tmp) / "junit.xml"
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "steps",
            "--cluster=local",
            f"--k8s-version={version}",
            f"--proxy-mode={mode}",
            f"--reports-dir={Path(tmp) / 'reports'}",
            f"--junitxml={junit}",
            "--check-report=no",
            "-q",
            *pytest_args,
        ]
        started = time.monotonic()
        try:
            commands.run_child(argv, timeout=COLD, cwd=ROOT)
        except commands.CommandTimedOut:  # the run was stopped: the cluster it booted may be left
            seconds = time.monotonic() - started
            say(f"[matrix] Kubernetes {version}, {mode}: no end after {COLD:.0f} s")
            cluster = LocalCluster()
            if cluster.has_processes():
                cluster.down()
            return Cell(version, mode, 0, 0, seconds, timed_out=True)
        passed, total = counts(junit)
        return Cell(version, mode, passed, total, time.monotonic() - started)


def section(cells: list[Cell], date: datetime.date, cores: int) -> str:
    """The matrix's section of docs/measurements.md, delimited."""
    return (
        f"{SECTION_START}\n## `tox -e matrix` on {date.isoformat()} ({cores} cores)\n\n"
        "The whole lab on a new local cluster for each supported release and kube-proxy mode "
        "(`tox -e matrix`, with no local cluster up).\n\n"
        f"{table(cells)}\n{SECTION_END}\n"
    )


def with_section(earlier: str, written: str) -> str:
    """``earlier`` (docs/measurements.md) with its matrix section replaced by ``written``, or
    ``written`` added at its end; the rest as it was."""
    head, start, rest = earlier.partition(SECTION_START)
    if not start:
        return f"{earlier.rstrip()}\n\n{written}" if earlier.strip() else written
    return head + written + rest.partition(SECTION_END)[2].removeprefix("\n")


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; print the table; 0 only when every scenario of every cell passed."""
    parser = argparse.ArgumentParser(prog="kubelab-matrix", description=__doc__)
    parser.add_argument(
        "--k8s-version",
        action="append",
        help="only these releases (repeatable; default: every supported one)",
    )
    parser.add_argument(
        "--proxy-mode", action="append", help="only these modes (default: iptables and nftables)"
    )
    args, pytest_args = parser.parse_known_args(argv)
    try:
        versions = [releases.choose(v).version for v in args.k8s_version or []] or [
            r.version for r in releases.live()
        ]
        modes = [releases.choose_proxy_mode(m) for m in args.proxy_mode or []] or list(
            releases.PROXY_MODES
        )
    except KubelabError as exc:
        say(f"kubelab matrix: {exc}", sys.stderr)
        return 2
    if LocalCluster().has_processes():
        say(
            "kubelab: a local cluster is up: the matrix boots its own; run `kubelab local down`",
            sys.stderr,
        )
        return 2
    with signals.sigterm_interrupts():  # a CI cancel stops the cell's run as Ctrl-C does
        cells = [run_cell(v, m, pytest_args) for v in versions for m in modes]
    say(table(cells))  # the matrix's result, on stdout
    if args.k8s_version or args.proxy_mode or pytest_args:
        say(f"[matrix] a narrowed run: {MEASUREMENTS} is left as it is")
    else:
        written = section(cells, datetime.date.today(), os.cpu_count() or 1)
        for target in (MEASUREMENTS, README):  # the README shows the table as last measured
            earlier = target.read_text() if target.is_file() else ""
            target.write_text(with_section(earlier, written))
            say(f"[matrix] written to {target}")
    return 0 if all(c.ok for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
