"""``tox -e bench``: the local cluster's figures, each measured now on this machine.

Prints: the build with a warm cache (and, with ``--cold``, with empty Go caches: tens of minutes),
the boot from ``up`` to all nodes Ready and DNS answering, and the full lab on a warm cluster.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubelab.cluster.local import LocalCluster
from kubelab.cluster.local.build import ensure_binaries
from kubelab.paths import cache_dir

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"boot": 30.0, "lab": 90.0}


def _timed(what: str, action: Callable[[], object]) -> float:
    print(f"[bench] {what} ...", flush=True)
    started = time.monotonic()
    action()
    elapsed = time.monotonic() - started
    print(f"[bench] {what}: {elapsed:.1f} s", flush=True)
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


def _lab() -> None:
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
        ],
        cwd=ROOT,
        check=True,
        timeout=1800,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubelab-bench", description=__doc__)
    parser.add_argument(
        "--cold", action="store_true", help="also time a cold build (tens of minutes)"
    )
    args = parser.parse_args(argv)
    cluster = LocalCluster()
    figures: dict[str, float] = {}
    if args.cold:
        figures["cold build"] = _timed("cold build (empty Go caches)", _cold_build)
    figures["warm build"] = _timed("warm build", lambda: ensure_binaries(cache_dir()))
    if cluster.is_running():
        cluster.down()
    figures["boot"] = _timed("boot: up to all nodes Ready and DNS answering", cluster.up)
    try:
        _lab()  # the first run imports the lab's images; the figure is the second, warm run
        figures["lab"] = _timed("full lab on the warm cluster", _lab)
    finally:
        cluster.down()
    print("\nkubelab bench (2 cores here; targets from DESIGN.md)")
    for name, seconds in figures.items():
        target = TARGETS.get(name.split()[0])
        verdict = (
            ""
            if target is None
            else f"  (target < {target:.0f} s: {'met' if seconds < target else 'MISSED'})"
        )
        print(f"  {name:<12} {seconds:8.1f} s{verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
