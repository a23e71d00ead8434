"""Reusing a running local cluster: checked against what was asked, never torn down on a hiccup.

The cluster's processes and API are stand-ins here (pid records and health answers set by the
test); the real reuse is shown by running the lab twice on one `kubelab local up`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3

from kubelab import releases
from kubelab.cluster.local import LocalCluster, proc
from kubelab.cluster.local import cluster as cluster_module
from kubelab.errors import EnvironmentProblem, UsageError

PROCESSES = ["cp-etcd", "cp-kube-apiserver", "w1-kubelet"]
# The release the running cluster runs (the default: the newest), and another one.
RUNS, OTHER = releases.DEFAULT.version, releases.RELEASES[-2].version


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    """A cluster whose state says: 3 workers, the default release, iptables, every process alive."""
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    cluster = LocalCluster(workers=3)
    cluster.layout.root.mkdir(parents=True)
    cluster.layout.meta.write_text(f'{{"name": "kubelab", "workers": 3, "k8s_version": "{RUNS}"}}')
    monkeypatch.setattr(cluster_module.proc, "records", lambda _: {name: {} for name in PROCESSES})
    monkeypatch.setattr(cluster_module.proc, "dead", lambda _: [])

    def no_teardown() -> None:
        raise AssertionError("a running cluster must never be torn down by up()")

    monkeypatch.setattr(cluster, "_teardown", no_teardown)
    monkeypatch.setattr(cluster_module, "SHORT", 1.0)
    return cluster


def test_a_transient_api_error_is_waited_out_and_the_cluster_reused(running, monkeypatch):
    answers = iter([urllib3.exceptions.MaxRetryError(None, "/readyz", "refused"), [], []])

    def health(nodes: bool) -> list[str]:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(running, "_health_problems", health)
    assert running.up() is False  # reused, not started


def test_a_cluster_that_stays_unhealthy_is_left_as_it_is(running, monkeypatch):
    monkeypatch.setattr(running, "_health_problems", lambda nodes: ["kube-apiserver /readyz: x"])
    with pytest.raises(EnvironmentProblem, match="it is left as it is"):
        running.up()


@pytest.mark.parametrize(
    ("workers", "message"),
    [
        (
            {"workers": 2},
            (
                f"is up with 3 workers, Kubernetes v{RUNS} and kube-proxy in iptables mode, not the "
                f"2 workers, v{RUNS} and iptables asked for"
            ),
        ),
        (
            {"release": releases.Chosen(releases.RELEASES[-2], OTHER)},
            (
                f"is up with 3 workers, Kubernetes v{RUNS} and kube-proxy in iptables mode, not the "
                f"3 workers, v{OTHER} and iptables asked for"
            ),
        ),
        (
            {"proxy_mode": "nftables"},
            (
                f"is up with 3 workers, Kubernetes v{RUNS} and kube-proxy in iptables mode, not the "
                f"3 workers, v{RUNS} and nftables asked for"
            ),
        ),
    ],
)
def test_a_running_cluster_of_other_workers_release_or_mode_is_one_line_naming_both(
    running, monkeypatch, workers, message
):
    for name, value in workers.items():
        setattr(running, name, value)
    monkeypatch.setattr(running, "_health_problems", lambda nodes: [])
    with pytest.raises(UsageError) as err:
        running.up()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_cluster_with_a_dead_component_is_not_replaced(running, monkeypatch):
    monkeypatch.setattr(cluster_module.proc, "dead", lambda _: ["cp-kube-apiserver"])
    with pytest.raises(EnvironmentProblem, match="cp-kube-apiserver exited"):
        running.up()


def test_the_provider_reuses_through_up(running, monkeypatch):
    from kubelab.cluster.local.provider import LocalProvider

    provider = LocalProvider(Path("app"), workers=2, k8s_version=None)
    provider.cluster = running
    running.workers = 2
    monkeypatch.setattr(running, "_health_problems", lambda nodes: [])
    with pytest.raises(UsageError, match="not the 2 workers"):
        provider.setup()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalCluster:
    """This state directory started nothing; processes run in the node namespaces of a cluster
    of the same name (stand-ins: the namespaces and their processes as the test says)."""
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path))
    cluster = LocalCluster(workers=3)
    monkeypatch.setattr(cluster_module, "check_platform", lambda: None)
    monkeypatch.setattr(
        cluster_module.network, "node_netns_names", lambda name: [f"{name}-cp", f"{name}-w1"]
    )
    monkeypatch.setattr(cluster_module.network, "other_clusters", lambda name: [])

    def no_teardown() -> None:
        raise AssertionError("another state directory's running cluster must never be torn down")

    monkeypatch.setattr(cluster, "_teardown", no_teardown)
    return cluster


@pytest.mark.parametrize("action", ["up", "down"])
def test_a_cluster_started_with_another_state_directory_is_left_alone(
    elsewhere, monkeypatch, action
):
    monkeypatch.setattr(cluster_module.network, "netns_pids", lambda ns: [4242])
    with pytest.raises(UsageError, match="was not started with this state directory"):
        getattr(elsewhere, action)()


@pytest.mark.parametrize("action", ["up", "down"])
def test_stale_records_of_this_state_directory_do_not_hide_another_ones_cluster(
    elsewhere, monkeypatch, action
):
    """This state directory's records are of processes long gone (e.g. before a reboot): the
    processes in the namespaces are not its own."""
    pids = elsewhere.layout.pids
    pids.mkdir(parents=True)
    (pids / "cp-kube-apiserver.json").write_text(
        json.dumps({"pid": 4242, "start": "1", "argv": ["kube-apiserver"], "log": "x.log"})
    )
    assert proc.dead(pids) == ["cp-kube-apiserver"]
    monkeypatch.setattr(cluster_module.network, "netns_pids", lambda ns: [4343])
    with pytest.raises(UsageError, match="was not started with this state directory"):
        getattr(elsewhere, action)()


def test_namespaces_with_no_process_are_a_stopped_clusters_leftovers(elsewhere, monkeypatch):
    monkeypatch.setattr(cluster_module.network, "netns_pids", lambda ns: [])
    torn = []
    monkeypatch.setattr(elsewhere, "_teardown", lambda: torn.append(True))
    elsewhere.down()
    assert torn == [True]
