"""``tox -e matrix``: the whole lab on the local cluster at every supported release and in each
kube-proxy mode, one fresh cluster each, and one table: release, mode, scenarios passed, wall
time. Exits non-zero unless every cell passed."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from kubelab import releases
from kubelab.cluster.local import LocalCluster
from kubelab.console import say

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 3600.0  # a cold build of a release is part of its cell


@dataclass(frozen=True)
class Cell:
    """One run of the lab: which release and mode, how many scenarios passed of how many."""

    version: str
    mode: str
    passed: int
    total: int
    seconds: float


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
    lines += [
        f"| {c.version} | {c.mode} | {c.passed} of {c.total} | {c.seconds:.0f} s |" for c in cells
    ]
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
        subprocess.run(argv, cwd=ROOT, check=False, timeout=RUN_TIMEOUT)
        passed, total = counts(junit)
        return Cell(version, mode, passed, total, time.monotonic() - started)


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
    versions = [releases.choose(v).version for v in args.k8s_version or []] or [
        r.version for r in releases.RELEASES
    ]
    modes = [releases.choose_proxy_mode(m) for m in args.proxy_mode or []] or list(
        releases.PROXY_MODES
    )
    if LocalCluster().has_processes():
        say("kubelab: a local cluster is up: the matrix boots its own; run `kubelab local down`")
        return 2
    cells = [run_cell(v, m, pytest_args) for v in versions for m in modes]
    say(table(cells))
    return 0 if all(c.total and c.passed == c.total for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
