"""Choosing a provider: clear one-line errors for what cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab import releases
from kubelab.cluster import select
from kubelab.cluster.existing import ExistingCluster
from kubelab.cluster.kind import KindProvider
from kubelab.cluster.select import Options, choose
from kubelab.errors import EnvironmentProblem, UsageError


@pytest.fixture(autouse=True)
def no_kubeconfig_env(monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)


def test_unknown_cluster_value_is_a_usage_error():
    with pytest.raises(
        UsageError, match="--cluster=vagrant is not one of auto, kind, local, existing"
    ):
        choose(Options(cluster="vagrant"))


def test_existing_without_kubeconfig_names_the_option():
    with pytest.raises(UsageError, match="needs --kubeconfig"):
        choose(Options(cluster="existing"))


def test_auto_with_a_kubeconfig_uses_that_cluster(tmp_path: Path):
    provider = choose(Options(kubeconfig=tmp_path / "config"))
    assert isinstance(provider, ExistingCluster)
    assert provider.kubeconfig == tmp_path / "config"


@pytest.mark.parametrize("asked", ["existing", "auto"])
def test_a_release_or_mode_asked_of_an_existing_cluster_is_refused(asked: str, tmp_path: Path):
    config, newest = tmp_path / "config", f"1.{releases.DEFAULT.minor}"
    with pytest.raises(UsageError) as err:
        choose(Options(cluster=asked, kubeconfig=config, k8s_version=newest))
    assert str(err.value) == (
        f"--k8s-version {newest}: kubelab runs on the existing cluster of {config} as it is, at "
        "the release and kube-proxy mode it runs, and neither sets nor checks them; drop it, or "
        "use --cluster=local or --cluster=kind"
    )
    with pytest.raises(UsageError, match=r" and --proxy-mode nftables: .* drop them"):
        choose(Options(cluster=asked, kubeconfig=config, k8s_version=newest, proxy_mode="nftables"))
    with pytest.raises(UsageError, match=r"^--proxy-mode iptables: "):
        choose(Options(cluster=asked, kubeconfig=config, proxy_mode="iptables"))


def test_auto_reads_kubeconfig_from_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert choose(Options()).kubeconfig == tmp_path / "a"


def test_kind_without_docker_says_what_to_do(monkeypatch, tmp_path: Path):
    # Not root: kubelab cannot start a Docker engine of its own.
    monkeypatch.setattr("kubelab.cluster.kind.engine.docker_answers", lambda: False)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    provider = choose(Options(cluster="kind", work_dir=tmp_path))
    with pytest.raises(
        EnvironmentProblem, match=r"needs a Docker engine and none answers.*run as root on Linux"
    ):
        provider.setup()


def test_kind_where_docker_cannot_be_installed(monkeypatch, tmp_path: Path):
    def no_apt(packages: list[str], purpose: str) -> None:
        raise EnvironmentProblem(f"{purpose} needs {', '.join(packages)}: apt-get failed")

    monkeypatch.setattr("kubelab.cluster.kind.engine.docker_answers", lambda: False)
    monkeypatch.setattr("kubelab.hostpkgs.missing", lambda programs: ["docker.io"])
    monkeypatch.setattr("kubelab.hostpkgs.install", no_apt)
    monkeypatch.setattr("os.geteuid", lambda: 0)
    provider = choose(Options(cluster="kind", work_dir=tmp_path))
    with pytest.raises(EnvironmentProblem, match=r"Docker engine\) needs docker.io"):
        provider.setup()


def test_kind_takes_workers_version_and_kubeconfig(tmp_path: Path):
    provider = choose(
        Options(
            cluster="kind",
            workers=1,
            k8s_version=f"v1.{releases.DEFAULT.minor}.0",
            proxy_mode="nftables",
            kubeconfig=tmp_path / "kc",
            work_dir=tmp_path,
        )
    )
    assert isinstance(provider, KindProvider)
    assert (provider.workers, provider.release.version, provider.proxy_mode) == (
        1,
        f"1.{releases.DEFAULT.minor}.0",
        "nftables",
    )
    assert provider.kubeconfig == tmp_path / "kc"


def test_local_needs_linux_and_root(monkeypatch):
    monkeypatch.setattr(select, "linux_root", lambda: False)
    with pytest.raises(EnvironmentProblem, match="needs Linux and root"):
        choose(Options(cluster="local"))


def test_auto_with_nothing_available_lists_the_ways_out(monkeypatch):
    monkeypatch.setattr(select, "linux_root", lambda: False)
    monkeypatch.setattr("kubelab.cluster.kind.engine.docker_answers", lambda: False)
    with pytest.raises(EnvironmentProblem, match="no cluster to run on"):
        choose(Options())
