"""The bench's own parts that need no cluster: the rollout lines it reports, the script's
node command."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kubelab.bench import on_node_shim, rollout_lines
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
