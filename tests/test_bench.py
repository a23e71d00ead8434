"""The bench's own parts that need no cluster: the rollout lines it reports, the script's
node command, the machine's busy CPU time."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kubelab.bench import busy_seconds, on_node_shim, rollout_lines
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
