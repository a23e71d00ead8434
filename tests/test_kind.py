"""kind provider: the cluster config it gives kind, and the offline CoreDNS it makes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import runpy
import subprocess
from pathlib import Path

import pytest
import yaml

import kubelab.cluster.kind
from kubelab import releases
from kubelab.cluster.kind import KindProvider, nodeimage, nodelogs, noderootfs, nodes, provider
from kubelab.cluster.kind.config import kind_config, offline_corefile
from kubelab.errors import EnvironmentProblem, UsageError

# The supported releases kind publishes a node image of (kubelab/releases.py), newest last: kind
# runs those on a user's own Docker engine.
KINDS_OWN = [r for r in releases.live() if r.kind_node is not None]
KINDS_NEWEST = f"1.{KINDS_OWN[-1].minor}"

# kubeadm's Corefile as kind's clusters have it (kubeadm v1.34).
KUBEADM_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def test_config_has_one_control_plane_and_the_workers_asked_for():
    config = yaml.safe_load(kind_config(workers=2))
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert "kubeadmConfigPatches" not in config
    assert config["networking"]["kubeProxyMode"] == "iptables"  # kubeadm's default


def test_config_allows_cgroup_v1_only_where_the_engine_has_it():
    assert "failCgroupV1" not in kind_config(workers=1)
    config = yaml.safe_load(
        kind_config(workers=1, etcd_tag="3.7.0-0", coredns_tag="v1.14.6", cgroup_v1=True)
    )
    kinds = [yaml.safe_load(patch)["kind"] for patch in config["kubeadmConfigPatches"]]
    assert kinds == ["ClusterConfiguration", "KubeletConfiguration"]
    assert yaml.safe_load(config["kubeadmConfigPatches"][1])["failCgroupV1"] is False


def test_config_names_the_proxy_mode_asked_for():
    config = yaml.safe_load(kind_config(workers=1, proxy_mode="nftables"))
    assert config["networking"]["kubeProxyMode"] == "nftables"


def test_a_users_docker_runs_the_upstream_node_image_of_the_release(tmp_path: Path):
    for row in KINDS_OWN:
        provider = KindProvider(tmp_path / "app", tmp_path / "work", k8s_version=f"1.{row.minor}")
        assert provider.release.kindest_node() == row.kind_node


def on_users_own_docker(provider: KindProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """``provider`` as on a user's own Docker engine (cgroup v2) with no kind node image yet."""
    monkeypatch.setattr(provider.engine, "ensure", lambda: None)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: None)
    monkeypatch.setattr(provider.engine, "cgroup_version", lambda: "2")
    monkeypatch.setattr(nodes, "node_images", lambda name: {})


def test_a_patch_kind_has_no_image_of_is_refused_on_a_users_docker(monkeypatch, tmp_path: Path):
    # A patch kubelab knows of the newest release kind has an image of, other than that image's.
    row = KINDS_OWN[-1]
    patches = [f"1.{row.minor}.{p}" for p in range(int(row.version.split(".")[2]) + 1)]
    asked = next(v for v in patches if v != row.kind_version)
    calls = stand_in_kind(tmp_path, monkeypatch)
    provider = KindProvider(tmp_path / "app", tmp_path / "work", k8s_version=asked)
    on_users_own_docker(provider, monkeypatch)
    with pytest.raises(UsageError, match=rf"^--k8s-version {asked}: kind on your own Docker"):
        provider.setup()
    provider.teardown()
    assert not calls.exists()  # kind was never asked for anything


class _Built(Exception):
    """Stands in for the offline node image build: raised with the release it was asked for."""


def test_a_release_kind_has_no_image_of_is_refused_on_a_users_docker_and_built_offline(
    monkeypatch, tmp_path: Path
):
    # The next minor, in the table before kind publishes a node image of it: the default.
    newer = dataclasses.replace(
        releases.DEFAULT, version=f"1.{releases.DEFAULT.minor + 1}.0", kind_node=None
    )
    monkeypatch.setattr(releases, "RELEASES", (*releases.RELEASES, newer))
    monkeypatch.setattr(releases, "DEFAULT", newer)
    calls = stand_in_kind(tmp_path, monkeypatch)
    provider = KindProvider(tmp_path / "app", tmp_path / "work", workers=1)
    on_users_own_docker(provider, monkeypatch)
    with pytest.raises(UsageError, match=rf"^Kubernetes 1\.{newer.minor}: kind on your own Docker"):
        provider.setup()
    provider.teardown()
    assert not calls.exists()  # kind was never asked for anything

    def build(cache: Path, chosen: releases.Chosen) -> nodeimage.NodeImage:
        raise _Built(chosen)

    monkeypatch.setattr(nodeimage, "ensure_node_image", build)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: 4242)  # kubelab's own: offline
    with pytest.raises(_Built) as built:
        provider.setup()
    assert built.value.args[0] == releases.Chosen(newer, newer.version)
    assert not calls.exists()


def test_config_tells_kubeadm_the_real_etcd_and_coredns_tags():
    config = yaml.safe_load(kind_config(workers=1, etcd_tag="3.5.24-0", coredns_tag="v1.15.0"))
    patch = yaml.safe_load(config["kubeadmConfigPatches"][0])
    assert patch["kind"] == "ClusterConfiguration"
    assert patch["etcd"]["local"]["imageTag"] == "3.5.24-0"
    assert patch["dns"]["imageTag"] == "v1.15.0"


def test_offline_corefile_forwards_to_an_upstream_that_says_nxdomain():
    corefile = offline_corefile(KUBEADM_COREFILE)
    assert "/etc/resolv.conf" not in corefile
    assert "    forward . 127.0.0.1:5353 {\n       max_concurrent 1000\n    }" in corefile
    upstream = corefile.split(".:5353 {", 1)[1]
    assert "bind 127.0.0.1" in upstream
    assert "rcode NXDOMAIN" in upstream
    # the cluster's own server block is untouched otherwise
    assert corefile.startswith(KUBEADM_COREFILE.split("    forward")[0])


def test_offline_corefile_is_applied_once():
    once = offline_corefile(KUBEADM_COREFILE)
    assert offline_corefile(once) == once


def stand_in_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> Path:
    """A stand-in for kind on PATH (a script, as a user's own kind would be) that records each
    command line it is given in the file it returns, then runs ``extra`` (shell)."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "kind"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{extra}')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return calls


def test_a_failing_create_is_one_line_and_the_cluster_is_deleted(monkeypatch, tmp_path: Path):
    # Stand-in for kind (a script on PATH, as a user's own kind would be): `create` fails the way
    # kind does, `delete` records that it was asked. Docker itself is not needed for this.
    calls = stand_in_kind(
        tmp_path,
        monkeypatch,
        'case "$1" in create) echo "ERROR: failed to create cluster" >&2; exit 1;; esac\n',
    )
    monkeypatch.chdir(tmp_path)
    provider = KindProvider(
        tmp_path / "app", tmp_path / "work", workers=1, k8s_version=KINDS_NEWEST
    )
    monkeypatch.setattr(provider.engine, "ensure", lambda: None)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: None)
    monkeypatch.setattr(provider.engine, "cgroup_version", lambda: "2")
    monkeypatch.setattr(provider, "_kind_network_exists", lambda: True)
    monkeypatch.setattr(nodes, "node_images", lambda name: {})  # no cluster of the name yet
    with pytest.raises(EnvironmentProblem, match=r"^kind create cluster kubelab failed \("):
        provider.setup()
    provider.teardown()
    assert [line.split()[:2] for line in calls.read_text().splitlines()] == [
        ["get", "clusters"],
        ["create", "cluster"],  # once: the join failure is fixed, not retried
        ["delete", "cluster"],
    ]


def test_a_kind_cluster_of_another_release_is_refused_not_reused(monkeypatch, tmp_path: Path):
    # pytest-kind would reuse any cluster of the name, whatever its nodes run.
    calls = stand_in_kind(tmp_path, monkeypatch)
    kept = {
        "kubelab-control-plane": "kubelab.local/kind-node:v1.36.3",
        "kubelab-worker": "kubelab.local/kind-node:v1.36.3",
    }
    monkeypatch.setattr(nodes, "node_images", lambda name: kept)
    provider = KindProvider(
        tmp_path / "app", tmp_path / "work", workers=1, k8s_version=KINDS_NEWEST
    )
    monkeypatch.setattr(provider.engine, "ensure", lambda: None)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: None)
    monkeypatch.setattr(provider.engine, "cgroup_version", lambda: "2")
    with pytest.raises(EnvironmentProblem) as refused:
        provider.setup()
    wanted = provider.release.release.kind_node
    fake = tmp_path / "bin" / "kind"
    assert str(refused.value) == (
        "kind cluster kubelab exists with nodes from another image (kubelab-control-plane: "
        "kubelab.local/kind-node:v1.36.3, kubelab-worker: kubelab.local/kind-node:v1.36.3) and "
        f"this run asks for {wanted}: it is not reused; delete it (`{fake} delete cluster "
        "--name kubelab`) or ask for its release"
    )
    provider.teardown()  # not this run's cluster: left as it is
    assert not calls.exists()
    monkeypatch.setattr(nodes, "proxy_mode", lambda name: "iptables")
    assert nodes.reuse_or_refuse("kubelab", "kubelab.local/kind-node:v1.36.3")  # its own release


def stand_in_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_conf: str) -> Path:
    """A stand-in for docker on PATH that records each command line in the file it returns and
    answers ``docker exec`` with ``config_conf`` (kube-proxy's ConfigMap as kubectl prints it);
    an empty one: the exec fails, as on a stopped node."""
    calls = tmp_path / "docker-calls"
    fake = tmp_path / "docker-bin" / "docker"
    fake.parent.mkdir()
    (tmp_path / "config.conf").write_text(config_conf)
    answer = (
        f"cat {tmp_path / 'config.conf'}"
        if config_conf
        else "echo 'Error response from daemon: container is not running' >&2; exit 1"
    )
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{answer}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return calls


# kube-proxy's config.conf as kubeadm writes it from kind's kubeProxyMode (trimmed).
KUBE_PROXY_CONF = """apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clusterCIDR: 10.244.0.0/16
mode: {mode}
"""


def test_a_kind_cluster_in_another_proxy_mode_is_refused_not_reused(monkeypatch, tmp_path: Path):
    calls = stand_in_kind(tmp_path, monkeypatch)
    docker = stand_in_docker(tmp_path, monkeypatch, KUBE_PROXY_CONF.format(mode="nftables"))
    provider = KindProvider(
        tmp_path / "app", tmp_path / "work", workers=1, k8s_version=KINDS_NEWEST
    )
    image = provider.release.kindest_node()
    kept = {"kubelab-control-plane": image, "kubelab-worker": image}
    monkeypatch.setattr(nodes, "node_images", lambda name: kept)
    monkeypatch.setattr(provider.engine, "ensure", lambda: None)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: None)
    monkeypatch.setattr(provider.engine, "cgroup_version", lambda: "2")
    with pytest.raises(EnvironmentProblem) as refused:
        provider.setup()
    fake = tmp_path / "bin" / "kind"
    assert str(refused.value) == (
        "kind cluster kubelab runs kube-proxy in nftables mode and this run asks for iptables: "
        f"it is not reused; delete it (`{fake} delete cluster --name kubelab`) or ask for "
        "--proxy-mode nftables"
    )
    provider.teardown()  # not this run's cluster: left as it is
    assert not calls.exists()
    assert docker.read_text().split()[:4] == [
        "exec",
        "kubelab-control-plane",
        "kubectl",
        ("--kubeconfig=/etc/kubernetes/admin.conf"),
    ]
    assert nodes.reuse_or_refuse("kubelab", image, "nftables")  # its own mode: reused


def test_a_kind_cluster_whose_proxy_mode_cannot_be_read_is_refused(monkeypatch, tmp_path: Path):
    stand_in_docker(tmp_path, monkeypatch, "")
    monkeypatch.setattr(nodes, "node_images", lambda name: {"kubelab-control-plane": "node:1"})
    with pytest.raises(EnvironmentProblem) as refused:
        nodes.reuse_or_refuse("kubelab", "node:1", "iptables")
    said = str(refused.value)
    assert said.startswith("kind cluster kubelab exists and its kube-proxy mode cannot be read (")
    assert "container is not running" in said
    assert said.endswith(
        "it is not reused; start it, or delete it (`kind delete cluster --name kubelab`)"
    )
    assert "\n" not in said


def test_kube_proxy_without_a_mode_runs_iptables(monkeypatch, tmp_path: Path):
    stand_in_docker(tmp_path, monkeypatch, KUBE_PROXY_CONF.format(mode='""'))
    assert nodes.proxy_mode("kubelab") == "iptables"


@pytest.mark.parametrize("found", [True, False], ids=["found", "created"])
def test_a_run_deletes_only_the_kind_cluster_it_created(
    found: bool, monkeypatch, tmp_path: Path, capsys
):
    # kind stands in as a script that records what it is asked; the cluster's own life (create,
    # nodes Ready, images) is not what is tested here.
    calls = stand_in_kind(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    provider = KindProvider(
        tmp_path / "app", tmp_path / "work", workers=1, k8s_version=KINDS_NEWEST
    )
    image = provider.release.release.kind_node
    there = {"kubelab-control-plane": image, "kubelab-worker": image} if found else {}
    monkeypatch.setattr(nodes, "node_images", lambda name: there)
    monkeypatch.setattr(nodes, "proxy_mode", lambda name: provider.proxy_mode)
    monkeypatch.setattr(provider.engine, "ensure", lambda: None)
    monkeypatch.setattr(provider.engine, "kubelabs", lambda: None)
    monkeypatch.setattr(provider.engine, "cgroup_version", lambda: "2")
    monkeypatch.setattr(provider, "_kind_network_exists", lambda: True)
    monkeypatch.setattr(provider, "_create", lambda cluster, config_file: None)
    monkeypatch.setattr(provider, "_wait_nodes_ready", lambda: None)
    monkeypatch.setattr(provider, "_load_upstream_images", lambda cluster: None)
    provider.setup()
    provider.teardown()
    asked = [line.split()[:2] for line in calls.read_text().splitlines()] if calls.exists() else []
    said = capsys.readouterr().out
    if found:
        assert asked == []
        assert "[kind] reusing cluster kubelab" in said
        assert "[kind] left the existing cluster kubelab as it found it" in said
    else:
        assert asked == [["delete", "cluster"]]
        assert "[kind] creating cluster kubelab" in said
        assert "[kind] deleting cluster kubelab" in said


def test_kubelab_runc_drops_only_what_the_bounding_set_lacks(tmp_path: Path):
    wrapper = runpy.run_path(
        str(Path(kubelab.cluster.kind.__file__).with_name("files") / "kubelab-runc"),
        run_name="kubelab_runc",
    )
    held = wrapper["bounding_set"]()
    asked = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"process": {"capabilities": {"bounding": asked}}}))
    wrapper["trim"](str(config), False)
    kept = json.loads(config.read_text())["process"]["capabilities"]["bounding"]
    assert kept == [c for c in asked if c in held]
    assert "CAP_SYS_ADMIN" in kept  # what a kind node needs is still there


# The lines of kind v0.33.0's containerd config that the node image changes.
KIND_CONTAINERD = """[plugins."io.containerd.grpc.v1.cri"]
  # use fixed sandbox image
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = false
"""


def test_node_containerd_keeps_pods_oom_score_adj_at_or_above_its_own():
    config = noderootfs.containerd_config(KIND_CONTAINERD, "registry.k8s.io/pause:3.10.2")
    assert "restrict_oom_score_adj = true" in config
    with pytest.raises(EnvironmentProblem, match="restrict_oom_score_adj"):
        noderootfs.containerd_config("version = 2\n", "registry.k8s.io/pause:3.10.2")


@pytest.mark.parametrize("row", releases.live(), ids=lambda r: f"1.{r.minor}")
def test_node_containerd_runs_the_pause_the_release_pins(row: releases.Release):
    node = nodeimage.NodeImage.of("kubelab.local/kind-node:v1", releases.choose(f"1.{row.minor}"))
    assert node.pause_ref == f"registry.k8s.io/pause:{row.pause}"
    config = noderootfs.containerd_config(KIND_CONTAINERD, node.pause_ref)
    assert f'  sandbox_image = "{node.pause_ref}"\n' in config
    assert config.count("sandbox_image") == 1
    with pytest.raises(EnvironmentProblem, match="no sandbox_image"):
        noderootfs.containerd_config("restrict_oom_score_adj = false\n", node.pause_ref)


def test_node_entrypoint_waits_for_dockers_rules_and_logs_both_counts():
    # The lines as kind v0.33.0's entrypoint has them; the node image build checks the real one.
    upstream = "\n".join(
        [
            "#!/bin/bash",
            "select_iptables() {",
            "  local mode num_legacy_lines num_nft_lines",
            "  num_legacy_lines=$( (iptables-legacy-save || true) | grep -c '^-' || true)",
            noderootfs.NFT_COUNT.rstrip("\n"),
            "  mode=nft",
            "  " + noderootfs.MODE_LOG,
            "}",
        ]
    )
    patched = noderootfs.entrypoint(upstream)
    assert 'timeout 60 sh -c "iptables-nft-save' in patched
    assert "timeout 5 " not in patched
    # the wait comes before either count
    assert patched.index("grep -q DOCKER_OUTPUT") < patched.index("num_legacy_lines=$(")
    assert (
        "(rules: ${num_legacy_lines} legacy, ${num_nft_lines} nft, counted in ${nft_ms} ms "
        "after waiting ${waited}x50 ms for Docker's DNS rules)" in patched
    )
    subprocess.run(["bash", "-n"], input=patched, text=True, check=True)
    # Run: stand-ins for the iptables tools (Docker's rules there or not) and a sleep that
    # moves bash's clock on a second at once (the wait is bounded by time).
    stand_ins = (
        'log_info() { echo "$*"; }\nlog_error() { echo "$*" >&2; }\n'
        "slept=0\nsleep() { SECONDS=$((SECONDS + 1)); slept=$((slept + 1)); }\n"
        "trap 'echo \"slept ${slept}\" >&2' EXIT\n"
    )
    for rules, status, said in [
        ("-N DOCKER_OUTPUT", 0, "setting iptables to detected mode: nft"),
        ("", 1, "no Docker DNS rules (chain DOCKER_OUTPUT) after 30 s"),
    ]:
        tools = "".join(
            f"{tool}() {{ echo '{rules}'; }}\n"
            for tool in ("iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save")
        )
        script = stand_ins + tools + patched.removeprefix("#!/bin/bash") + "\nselect_iptables\n"
        ran = subprocess.run(["bash"], input=script, text=True, capture_output=True)
        assert (ran.returncode, said in ran.stdout + ran.stderr) == (status, True), ran
        # 30 s by bash's clock (which real time moves on too), not 600 looks.
        slept = int(re.search(r"^slept (\d+)$", ran.stderr, re.MULTILINE).group(1))
        assert (0 < slept <= 30) if status else slept == 0, ran.stderr
    with pytest.raises(EnvironmentProblem, match="entrypoint changed"):
        noderootfs.entrypoint('#!/bin/bash\nexec "$@"\n')


def test_node_image_key_follows_the_binaries_not_the_build_bookkeeping(tmp_path: Path):
    bin_dir, kind_files = tmp_path / "bin", tmp_path / "files"
    bin_dir.mkdir()
    kind_files.mkdir()
    (bin_dir / "kubelet").write_text("v1")
    (bin_dir / ".versions.json").write_text("{}")
    bins = nodeimage.Binaries(bin_dir)
    runtime = nodeimage.Runtime(tmp_path / "runtime")
    runtime.bin_dir.mkdir()
    (runtime.bin_dir / "containerd").write_text("2.3.7")
    chosen = releases.choose(None)
    node = nodeimage.NodeImage.of(f"kubelab.local/kind-node:v{chosen.version}", chosen)
    key = nodeimage.inputs_key(node, bins, runtime, kind_files)
    (bin_dir / ".versions.json").write_text(f'{{"kubelet": "v{chosen.version}"}}')
    assert nodeimage.inputs_key(node, bins, runtime, kind_files) == key
    (bin_dir / "kubelet").write_text("v2")
    assert nodeimage.inputs_key(node, bins, runtime, kind_files) != key
    (runtime.bin_dir / "containerd").write_text("2.3.8")
    assert nodeimage.inputs_key(node, bins, runtime, kind_files) != key


def test_node_image_key_follows_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A change to how the image is made (a patch to kind's entrypoint) makes a new image."""
    assert Path(noderootfs.__file__) in nodeimage.RECIPE_SOURCES
    bins, runtime = nodeimage.Binaries(tmp_path / "bin"), nodeimage.Runtime(tmp_path / "runtime")
    for directory in (bins.bin_dir, runtime.bin_dir, tmp_path / "files"):
        directory.mkdir(parents=True)
    recipe = tmp_path / "noderootfs.py"
    recipe.write_text('WAIT = "600 looks"\n')
    monkeypatch.setattr(nodeimage, "RECIPE_SOURCES", (recipe,))
    node = nodeimage.NodeImage.of("kubelab.local/kind-node:v1", releases.choose(None))
    key = nodeimage.inputs_key(node, bins, runtime, tmp_path / "files")
    recipe.write_text('WAIT = "30 s"\n')
    assert nodeimage.inputs_key(node, bins, runtime, tmp_path / "files") != key


def test_entrypoint_lines_are_what_kinds_entrypoint_said_on_a_node(tmp_path: Path):
    node_log = tmp_path / "kubelab-worker.log"
    node_log.write_text(
        "INFO: detected cgroup v1\n"
        "WARN: cgroupns not enabled!\n"
        "INFO: setting iptables to detected mode: legacy (rules: 0 legacy, 0 nft)\n"
        "systemd 252 running in system mode\n"
        "Welcome to Debian GNU/Linux 12 (bookworm)!\n"
    )
    assert nodelogs.entrypoint_lines(node_log) == [
        "INFO: detected cgroup v1",
        "WARN: cgroupns not enabled!",
        "INFO: setting iptables to detected mode: legacy (rules: 0 legacy, 0 nft)",
    ]
    assert nodelogs.entrypoint_lines(tmp_path / "never-written.log") == []


class FlakyCluster:
    """Stands in for pytest-kind's KindCluster: its create fails ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def create(self, config_file: Path) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise subprocess.CalledProcessError(1, ["kind", "create", "cluster"])


@pytest.fixture
def no_docker_logs(monkeypatch: pytest.MonkeyPatch):
    """The node logs are followed through Docker, which unit tests do without."""

    @contextlib.contextmanager
    def followed(cluster_name: str, out: Path):
        out.mkdir(parents=True)
        (out / "kubelab-worker.log").write_text("systemd 252 running in system mode\n")
        yield

    monkeypatch.setattr(provider, "followed_node_logs", followed)


def test_a_failed_kind_create_is_one_line_naming_each_nodes_iptables_mode(
    tmp_path: Path, no_docker_logs
):
    provider = KindProvider(tmp_path / "app", tmp_path / "work")
    cluster = FlakyCluster(failures=1)
    with pytest.raises(EnvironmentProblem) as err:
        provider._create(cluster, tmp_path / "kind-config.yaml")
    assert cluster.calls == 1
    nodes = tmp_path / "work/diagnostics/nodes"
    assert str(err.value) == (
        "kind create cluster kubelab failed (its output is above; each node's own output: "
        f"{nodes}; kubelab-worker: no iptables mode logged)"
    )
