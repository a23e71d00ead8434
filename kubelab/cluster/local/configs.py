"""Configuration files of each node's components, rendered from the plan (pure functions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubelab.cluster.local import plan
from kubelab.cluster.local.plan import LocalNode
from kubelab.names import CONTROL_PLANE_LABEL


@dataclass(frozen=True)
class NodeDirs:
    """Where one node keeps its files: persistent under the state dir, runtime under /run."""

    state: Path  # state_dir/clusters/<name>/nodes/<short>
    run: Path  # /run/kubelab/<name>/<short>

    @property
    def containerd_root(self) -> Path:
        """containerd's root (images, snapshots)."""
        return self.state / "containerd"

    @property
    def containerd_state(self) -> Path:
        """containerd's state (tasks, sandbox shm, pod netns mounts)."""
        return self.run / "containerd"

    @property
    def cni_conf_dir(self) -> Path:
        """The CNI configuration directory of this node's containerd."""
        return self.state / "cni" / "net.d"

    @property
    def cni_data_dir(self) -> Path:
        """host-local IPAM's allocation store for this node."""
        return self.state / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's --root-dir (pod volumes are mounted below it)."""
        return self.state / "kubelet"

    @property
    def pod_logs(self) -> Path:
        """The kubelet's podLogsDir."""
        return self.state / "pod-logs"

    @property
    def registry_hosts(self) -> Path:
        """containerd's registry hosts directory (``certs.d`` layout): a registry's ``hosts.toml``."""
        return self.state / "certs.d"

    @property
    def resolv_conf(self) -> Path:
        """An empty resolv.conf: pods get only cluster DNS, never the host's resolvers."""
        return self.state / "resolv.conf"


def cgroup_root(cluster: str, node: LocalNode) -> str:
    """The kubelet's cgroupRoot for a node (pre-created in every cgroup v1 hierarchy)."""
    return f"/kubelab/{cluster}/{node.short}"


def cni_network_name(cluster: str) -> str:
    """Name of the pod network in CNI configs (also prefixes CNI's cache files)."""
    return f"{cluster}-pods"


def containerd_config(node: LocalNode, dirs: NodeDirs, runc: Path, pause: str) -> str:
    """config.toml (version 3, containerd 2.x) of a node's own containerd, running ``runc``,
    with ``pause`` as the pod sandbox image; no NRI (its socket, /var/run/nri/nri.sock, would be shared by every node's containerd)."""
    run = dirs.containerd_state
    images = '"io.containerd.cri.v1.images"'
    runtime = '"io.containerd.cri.v1.runtime"'
    return f"""version = 3
root = "{dirs.containerd_root}"
state = "{run}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = "{node.containerd_socket}"

[ttrpc]
  address = "{node.containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{dirs.state / "opt"}"

[plugins.{images}]
  snapshotter = "overlayfs"
  [plugins.{images}.pinned_images]
    sandbox = "{pause}"
  [plugins.{images}.registry]
    config_path = "{dirs.registry_hosts}"

[plugins.{runtime}]
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins.{runtime}.containerd]
    default_runtime_name = "runc"
    [plugins.{runtime}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.{runtime}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
        Root = "{run / "runc"}"
  [plugins.{runtime}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{dirs.cni_conf_dir}"
    max_conf_num = 1
"""


def cni_config(cluster: str, node: LocalNode, dirs: NodeDirs) -> str:
    """A conflist: bridge ``cni0``, host-local IPAM on the node's /24, portmap (containerd adds lo)."""
    conf = {
        "cniVersion": "1.0.0",
        "name": cni_network_name(cluster),
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(dirs.cni_data_dir),
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": node.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2)


def kubelet_config(
    cluster: str, node: LocalNode, dirs: NodeDirs, pki_dir: Path, cgroup_v1: bool
) -> str:
    """KubeletConfiguration of a node; on a cgroup v1 host with ``failCgroupV1: false`` (from
    1.35 the kubelet refuses v1 otherwise)."""
    conf: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.address,
        "port": 10250,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki_dir / f"kubelet-{node.short}.crt"),
        "tlsPrivateKeyFile": str(pki_dir / f"kubelet-{node.short}.key"),
        "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root(cluster, node),
        "cgroupsPerQOS": True,
        "failSwapOn": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "nodefs.available": "0%",
            "nodefs.inodesFree": "0%",
            "imagefs.available": "0%",
            "imagefs.inodesFree": "0%",
        },
        "clusterDNS": [plan.DNS_SERVICE_IP],
        "clusterDomain": plan.CLUSTER_DOMAIN,
        "resolvConf": str(dirs.resolv_conf),
        "podLogsDir": str(dirs.pod_logs),
        "podCIDR": node.pod_cidr,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "makeIPTablesUtilChains": True,
        "nodeStatusReportFrequency": "10s",
        "nodeStatusUpdateFrequency": "2s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "5s",
    }
    if cgroup_v1:
        conf["failCgroupV1"] = False
    if node.control_plane:
        conf["registerWithTaints"] = [{"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}]
    return yaml.safe_dump(conf, sort_keys=False)


def kube_proxy_config(node: LocalNode, kubeconfig: Path, mode: str) -> str:
    """KubeProxyConfiguration in ``mode`` (iptables or nftables); no conntrack sysctls (they
    fail in a netns)."""
    conf = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": mode,
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": node.name,
        "bindAddress": node.address,
        "clusterCIDR": plan.POD_CIDR,
        "nodePortAddresses": ["primary"],  # the node address (172.30.0.x), not every local IP
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "1s"},  # kube-proxy's default
        "nftables": {"syncPeriod": "30s", "minSyncPeriod": "1s"},
    }
    return yaml.safe_dump(conf, sort_keys=False)
