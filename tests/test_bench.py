"""The bench's own parts that need no cluster: the rollout lines it reports, the script's
node command, the machine's busy CPU time."""

from __future__ import annotations

import datetime
import os
import subprocess
import time
from pathlib import Path

import pytest

from kubelab import bench
from kubelab.bench import (
    NotPassed,
    Run,
    busy_seconds,
    measurements,
    on_node_shim,
    rollout_lines,
    run_to_pass,
)
from kubelab.build import Binaries
from kubelab.cluster.local import LocalCluster


def test_rollout_lines_come_from_the_runs_junit_properties(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase name="a"><properties>'
        '<property name="timeline" value="x.png"/>'
        '<property name="traffic" value="Deployment: 100 requests"/>'
        "</properties></testcase></testsuite></testsuites>"
    )
    assert rollout_lines(junit) == ["Deployment: 100 requests"]


def test_on_node_names_each_node_and_refuses_others(tmp_path: Path) -> None:
    shim = on_node_shim(LocalCluster(workers=2), tmp_path / "on-node")
    text = shim.read_text()
    assert "kubelab-worker2) netns=kubelab-w2" in text
    assert "kubelab-control-plane) netns=kubelab-cp" in text
    refused = subprocess.run(
        [str(shim), "kubelab-worker9", "true"], capture_output=True, text=True, timeout=10
    )
    assert refused.returncode == 2
    assert "no node kubelab-worker9" in refused.stderr


def test_busy_time_leaves_out_idle_iowait_and_guest() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks of 1/100 s
    stat = "cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 3 0\n"
    assert busy_seconds(stat, 100) == 1.61


def test_busy_time_grows_by_at_least_what_a_busy_loop_spends() -> None:
    with open("/proc/stat") as stat:
        before = busy_seconds(stat.read(), os.sysconf("SC_CLK_TCK"))
    spun = time.process_time()
    while time.process_time() - spun < 0.5:
        pass
    with open("/proc/stat") as stat:
        after = busy_seconds(stat.read(), os.sysconf("SC_CLK_TCK"))
    assert after - before >= 0.45


def _run() -> Run:
    return Run(
        figures={"boot": 7.1, "script": 50.0, "serial": 45.5, "parallel": 41.0, "ratio": 0.91},
        boots=[6.1, 7.1, 7.7],
        busy={"script": 40.0, "serial": 46.0, "parallel": 60.0},
        workers="2",
        cores=2,
        rollouts=["Deployment: 2000 requests, 0 failed"],
        date=datetime.date(2026, 12, 5),
    )


def test_measurements_are_dated_by_the_run_and_judged_against_the_targets() -> None:
    text = measurements(_run())
    assert "## `tox -e bench` on 2026-12-05 (2 cores)" in text
    assert "| boot | 7.10 s (median of 6.1, 7.1, 7.7) | <= 8 s: met |" in text
    assert "| serial | 45.50 s (46.0 CPU-s, 51 % busy) | <= 45 s: MISSED |" in text
    assert "| parallel -n 2 | 41.00 s (60.0 CPU-s, 73 % busy) | <= 30 s: MISSED |" in text
    assert "| ratio | 0.91x | <= 1.2x: met |" in text
    assert "- Deployment: 2000 requests, 0 failed" in text


def test_a_new_run_keeps_the_figures_measured_by_other_means() -> None:
    earlier = "# Measurements\n\nold figures\n\n## Measured by other means\n\nfresh tox: 18 min\n"
    text = measurements(_run(), earlier)
    assert "old figures" not in text
    assert text.endswith("\n## Measured by other means\n\nfresh tox: 18 min\n")
    assert measurements(_run(), text) == text


def test_a_timed_run_that_fails_is_not_passed_and_one_that_passes_gets_its_env() -> None:
    with pytest.raises(NotPassed) as info:
        run_to_pass(["sh", "-c", "exit 3"])
    assert info.value.status == 3
    run_to_pass(["sh", "-c", 'test "$PASS" = yes'], {**os.environ, "PASS": "yes"})


class StandInBuilds:
    """Stands in for kubelab.build: records what the bench asks to build, builds nothing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.binaries: list[tuple[Path, tuple[str, ...]]] = []
        self.runtimes: list[Path] = []
        monkeypatch.setattr(bench, "ensure_binaries", self.ensure_binaries)
        monkeypatch.setattr(bench, "ensure_runtime", self.ensure_runtime)

    def ensure_binaries(self, cache: Path, extra: tuple[str, ...] = ()) -> Binaries:
        self.binaries.append((cache, extra))
        return Binaries(cache / "k8s" / "bin")

    def ensure_runtime(self, cache: Path) -> None:
        self.runtimes.append(cache)


class NoCluster:
    """Stands in for LocalCluster: none is up, and none may be booted."""

    def has_processes(self) -> bool:
        return False

    def up(self) -> None:
        raise AssertionError("the bench booted a cluster without kubectl for its script")

    down = up


def test_the_bench_builds_the_scripts_kubectl(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clean machine has no kubectl: the bench asks for it (the local cluster never does)."""
    builds = StandInBuilds(monkeypatch)
    monkeypatch.setattr(bench, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(bench, "LocalCluster", NoCluster)
    assert bench.main([]) == 1  # the stand-in built nothing
    assert builds.binaries == [(tmp_path, ("kubectl",))]
    assert builds.runtimes == [tmp_path]
    assert f"needs kubectl at {tmp_path / 'k8s' / 'bin' / 'kubectl'}" in capsys.readouterr().err


def test_a_cold_build_builds_the_runtime_too_with_empty_go_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    builds = StandInBuilds(monkeypatch)
    caches: list[str] = []
    monkeypatch.setattr(bench, "ensure_runtime", lambda cache: caches.append(os.environ["GOCACHE"]))
    monkeypatch.delenv("GOCACHE", raising=False)
    bench._cold_build()
    ((cache, extra),) = builds.binaries
    assert extra == ("kubectl",)
    assert caches == [str(cache.parent / "go-build")]  # containerd and runc, from empty caches
    assert not cache.parent.exists()
    assert "GOCACHE" not in os.environ
