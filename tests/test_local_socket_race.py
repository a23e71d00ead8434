"""A kubelet that lost the race for the shared device-plugin socket is started again, no other.

The kubelet is a stand-in here (a shell that prints the kubelet's error and exits); the pid
records, logs and process starts are kubelab's real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelab.cluster.local import LocalCluster, proc, supervise
from kubelab.waits import wait_until

RACE_LINE = (
    'E1201 06:43:36.579321 11086 kubelet.go:1704] "Failed to start ContainerManager" '
    'err="listen unix /var/lib/kubelet/device-plugins/kubelet.sock: bind: address already in use"'
)


def _exited(cluster: LocalCluster, name: str, says: str) -> int:
    """Start a stand-in ``name`` that prints ``says`` and exits; its pid once it has exited."""
    log = cluster.layout.logs / f"{name}.log"
    pid = proc.start(name, ["sh", "-c", f"echo '{says}'; exit 1"], log, cluster.layout.pids)
    wait_until(
        lambda: proc.dead(cluster.layout.pids), lambda dead: name in dead, timeout=10, what=name
    )
    proc.reap()
    return pid


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    return LocalCluster(workers=3)


def _pid(cluster: LocalCluster, name: str) -> int:
    return json.loads((cluster.layout.pids / f"{name}.json").read_text())["pid"]


def test_a_kubelet_that_lost_the_socket_race_is_started_again(stand_in: LocalCluster) -> None:
    first = _exited(stand_in, "w2-kubelet", RACE_LINE)
    assert stand_in.processes.restart_race_loser("w2-kubelet")
    assert _pid(stand_in, "w2-kubelet") != first


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("w2-kubelet", 'E1201 "Failed to run kubelet" err="failed to load kubelet config file"'),
        ("cp-kube-apiserver", RACE_LINE),
    ],
)
def test_any_other_exit_is_a_failure(stand_in: LocalCluster, name: str, says: str) -> None:
    first = _exited(stand_in, name, says)
    assert not stand_in.processes.restart_race_loser(name)
    assert _pid(stand_in, name) == first


def test_a_kubelet_that_keeps_losing_is_a_failure(stand_in: LocalCluster) -> None:
    for _ in range(supervise.SOCKET_RACE_RESTARTS + 1):
        _exited(stand_in, "w2-kubelet", RACE_LINE)
    assert not stand_in.processes.restart_race_loser("w2-kubelet")
