"""Address plan, names and rendered configs of the local cluster (no cluster needed)."""

from __future__ import annotations

import ipaddress
import json
import tomllib
from pathlib import Path

import pytest
import yaml

from kubelab import releases
from kubelab.build.kubernetes import staging_modules, version_ldflags
from kubelab.cluster.local import LocalCluster, configs, plan
from kubelab.cluster.local.configs import NodeDirs


def test_plan_has_a_control_plane_then_workers() -> None:
    nodes = plan.plan_nodes("kubelab", 3)
    assert [n.name for n in nodes] == [
        "kubelab-control-plane",
        "kubelab-worker1",
        "kubelab-worker2",
        "kubelab-worker3",
    ]
    assert [n.control_plane for n in nodes] == [True, False, False, False]
    assert [n.netns for n in nodes] == ["kubelab-cp", "kubelab-w1", "kubelab-w2", "kubelab-w3"]


def test_addresses_are_unique_and_inside_their_ranges() -> None:
    nodes = plan.plan_nodes("kubelab", plan.MAX_WORKERS)
    bridge = ipaddress.ip_network(plan.BRIDGE_CIDR)
    pods = ipaddress.ip_network(plan.POD_CIDR)
    assert len({n.address for n in nodes}) == len(nodes)
    assert all(ipaddress.ip_address(n.address) in bridge for n in nodes)
    assert plan.GATEWAY not in {n.address for n in nodes}
    cidrs = [ipaddress.ip_network(n.pod_cidr) for n in nodes]
    assert all(c.subnet_of(pods) and c.prefixlen == 24 for c in cidrs)
    assert len(set(cidrs)) == len(cidrs)
    assert all(len(n.veth) <= 15 for n in nodes)  # IFNAMSIZ


def test_service_addresses_are_in_the_service_range() -> None:
    services = ipaddress.ip_network(plan.SERVICE_CIDR)
    assert ipaddress.ip_address(plan.KUBERNETES_SERVICE_IP) in services
    assert ipaddress.ip_address(plan.DNS_SERVICE_IP) in services
    assert plan.apiserver_url(plan.plan_nodes("kubelab", 1)) == "https://172.30.0.10:6443"


def test_staging_modules_come_from_the_go_mod_replaces() -> None:
    go_mod = """module k8s.io/kubernetes

go 1.24.0

require k8s.io/api v0.0.0

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/foo/bar => github.com/foo/bar v1.0.0
)
"""
    assert staging_modules(go_mod) == ["k8s.io/api", "k8s.io/client-go"]


def test_version_ldflags_set_both_version_packages() -> None:
    flags = version_ldflags("1.34.4")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.34.4" in flags
        assert f"-X {pkg}.gitMinor=34" in flags


def _dirs(tmp_path: Path, node: plan.LocalNode) -> NodeDirs:
    return NodeDirs(tmp_path / "state" / node.short, tmp_path / "run" / node.short)


def test_kubelet_config(tmp_path: Path) -> None:
    cp, worker = plan.plan_nodes("kubelab", 1)
    conf = yaml.safe_load(
        configs.kubelet_config("kubelab", worker, _dirs(tmp_path, worker), tmp_path, False)
    )
    assert "failCgroupV1" not in conf  # cgroup v2: the kubelet's own default
    assert conf["cgroupDriver"] == "cgroupfs"
    assert conf["failSwapOn"] is False
    assert conf["imageGCHighThresholdPercent"] == 100
    assert set(conf["evictionHard"].values()) == {"0%"}
    assert conf["clusterDNS"] == [plan.DNS_SERVICE_IP]
    assert conf["clusterDomain"] == "cluster.local"
    assert conf["authentication"]["anonymous"]["enabled"] is False
    assert conf["authentication"]["webhook"]["enabled"] is True
    assert conf["authorization"]["mode"] == "Webhook"
    assert Path(conf["resolvConf"]).parent == tmp_path / "state" / "w1"
    assert "registerWithTaints" not in conf
    cp_conf = yaml.safe_load(
        configs.kubelet_config("kubelab", cp, _dirs(tmp_path, cp), tmp_path, True)
    )
    assert cp_conf["failCgroupV1"] is False  # a v1 host: allowed explicitly
    assert cp_conf["registerWithTaints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize("row", releases.live(), ids=lambda r: f"1.{r.minor}")
def test_the_sandbox_image_is_the_pause_the_release_pins(row: releases.Release) -> None:
    cluster = LocalCluster(workers=1, k8s_version=f"1.{row.minor}")
    assert cluster.pause == f"kubelab.local/pause:{row.pause}"


def test_containerd_config_is_private_to_the_node(tmp_path: Path) -> None:
    node = plan.plan_nodes("kubelab", 1)[1]
    dirs = _dirs(tmp_path, node)
    pause = "kubelab.local/pause:3.10.2"
    conf = tomllib.loads(configs.containerd_config(node, dirs, Path("/opt/kubelab/runc"), pause))
    assert conf["version"] == 3  # containerd 2.x's own format
    assert conf["grpc"]["address"] == str(node.containerd_socket)
    images = conf["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == pause
    runtime = conf["plugins"]["io.containerd.cri.v1.runtime"]
    runc = runtime["containerd"]["runtimes"]["runc"]["options"]
    assert runc == {"SystemdCgroup": False, "BinaryName": "/opt/kubelab/runc", "Root": runc["Root"]}
    assert runc["Root"].startswith(str(dirs.containerd_state))
    assert runtime["cni"]["conf_dir"] == str(dirs.cni_conf_dir)
    assert runtime["netns_mounts_under_state_dir"] is True


def test_cni_config_uses_the_node_pod_range(tmp_path: Path) -> None:
    node = plan.plan_nodes("kubelab", 2)[2]
    conf = json.loads(configs.cni_config("kubelab", node, _dirs(tmp_path, node)))
    bridge, portmap = conf["plugins"]
    assert bridge["bridge"] == "cni0"
    assert bridge["isGateway"]
    assert not bridge["ipMasq"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.2.0/24", "gateway": "10.244.2.1"}]]
    assert portmap["type"] == "portmap"


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_kube_proxy_sets_no_conntrack_sysctls(tmp_path: Path, mode: str) -> None:
    node = plan.plan_nodes("kubelab", 1)[1]
    conf = yaml.safe_load(configs.kube_proxy_config(node, tmp_path / "kc", mode))
    assert conf["mode"] == mode
    assert conf["nodePortAddresses"] == ["primary"]
    assert conf["conntrack"]["maxPerCore"] == 0
    assert conf["clusterCIDR"] == plan.POD_CIDR
    assert conf["hostnameOverride"] == "kubelab-worker1"


def test_node_netns_names_identify_their_cluster() -> None:
    from kubelab.cluster.local.network import _NODE_NETNS

    names = [n.netns for n in plan.plan_nodes("kubelab", 12)]
    assert {m.group(1) for n in names if (m := _NODE_NETNS.match(n))} == {"kubelab"}
    assert _NODE_NETNS.match("cni-1234-5678") is None
