"""Command lines of every component, given the cluster layout (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubelab.build import Binaries, Runtime
from kubelab.cluster.local import plan
from kubelab.cluster.local.configs import NodeDirs
from kubelab.cluster.local.plan import LocalNode

ETCD_CLIENT_URL = "http://127.0.0.1:2379"  # loopback of the control-plane netns only


@dataclass(frozen=True)
class Layout:
    """Files of one cluster under state_dir/clusters/<name>/."""

    cluster: str
    root: Path

    @property
    def pki(self) -> Path:
        """Certificates, keys and component kubeconfigs (0700)."""
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        """One log file per component per node."""
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        """Pid records of the processes kubelab started."""
        return self.root / "pids"

    @property
    def admin_kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users and tests."""
        return self.root / "kubeconfig"

    @property
    def meta(self) -> Path:
        """cluster.json: the parameters the cluster was started with."""
        return self.root / "cluster.json"

    @property
    def host_state(self) -> Path:
        """host.json: host settings to restore on down."""
        return self.root / "host.json"

    @property
    def host_dirs(self) -> Path:
        """host-dirs.json: shared host directories up created (down removes them)."""
        return self.root / "host-dirs.json"

    def node_dirs(self, node: LocalNode) -> NodeDirs:
        """Directories of one node."""
        return NodeDirs(self.root / "nodes" / node.short, plan.run_dir(self.cluster) / node.short)

    def kubeconfig_of(self, user: str) -> Path:
        """Kubeconfig of a component (``controller-manager``, ``node-w1``, ...)."""
        return self.pki / f"{user}.kubeconfig"

    def log_of(self, node: LocalNode, component: str) -> Path:
        """Log file of a component on a node: logs/<short>-<component>.log."""
        return self.logs / f"{node.short}-{component}.log"


def etcd(bins: Binaries, layout: Layout, cp: LocalNode) -> list[str]:
    """etcd, client and peer URLs on the control-plane netns loopback only."""
    return [
        str(bins.path("etcd")),
        "--name=" + cp.name,
        "--data-dir=" + str(layout.node_dirs(cp).state / "etcd"),
        "--listen-client-urls=" + ETCD_CLIENT_URL,
        "--advertise-client-urls=" + ETCD_CLIENT_URL,
        "--listen-peer-urls=http://127.0.0.1:2380",
        "--initial-advertise-peer-urls=http://127.0.0.1:2380",
        "--initial-cluster=" + cp.name + "=http://127.0.0.1:2380",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        "--unsafe-no-fsync",  # a throwaway test cluster: fsync only slows the boot
        "--snapshot-count=10000",
        "--log-level=warn",
    ]


def kube_apiserver(bins: Binaries, layout: Layout, cp: LocalNode) -> list[str]:
    """kube-apiserver on the control-plane address, Node+RBAC, NodeRestriction, no anonymous."""
    pki = layout.pki
    return [
        str(bins.path("kube-apiserver")),
        "--etcd-servers=" + ETCD_CLIENT_URL,
        f"--bind-address={cp.address}",
        f"--advertise-address={cp.address}",
        f"--secure-port={plan.APISERVER_PORT}",
        f"--service-cluster-ip-range={plan.SERVICE_CIDR}",
        "--service-node-port-range=30000-32767",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--anonymous-auth=false",
        "--allow-privileged=true",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--profiling=false",
        "--v=1",
    ]


def serving_cert(layout: Layout, component: str) -> list[str]:
    """The flags giving ``component`` the serving certificate kubelab issued it (files.py)."""
    return [
        f"--tls-cert-file={layout.pki / (component + '.crt')}",
        f"--tls-private-key-file={layout.pki / (component + '.key')}",
    ]


def kube_controller_manager(bins: Binaries, layout: Layout) -> list[str]:
    """kube-controller-manager; node CIDRs are static (CNI config), so no nodeipam allocation.

    No --authentication/authorization-kubeconfig (here and for the scheduler): without a
    front-proxy CA they log an error every few seconds, and their ports serve only /healthz
    on the control-plane netns loopback.
    """
    pki = layout.pki
    kubeconfig = layout.kubeconfig_of("controller-manager")
    return [
        str(bins.path("kube-controller-manager")),
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        *serving_cert(layout, "kube-controller-manager"),
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={plan.SERVICE_CIDR}",
        f"--cluster-cidr={plan.POD_CIDR}",
        "--allocate-node-cidrs=false",
        "--node-monitor-period=2s",  # lifts the not-ready taint sooner after a node is Ready
        # Its own API client's default, 20 requests/s (burst 30), queues the start of its ~40
        # controllers, each fetching a service-account token, for seconds of the boot.
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        f"--cluster-name={layout.cluster}",
        "--v=1",
    ]


def kube_scheduler(bins: Binaries, layout: Layout) -> list[str]:
    """kube-scheduler."""
    kubeconfig = layout.kubeconfig_of("scheduler")
    return [
        str(bins.path("kube-scheduler")),
        f"--kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        *serving_cert(layout, "kube-scheduler"),
        "--leader-elect=false",
        "--v=1",
    ]


def containerd(runtime: Runtime, layout: Layout, node: LocalNode) -> list[str]:
    """The node's own containerd, with kubelab's runtime first on its PATH (where it finds its
    shim: never a containerd 1.x shim a host package installed)."""
    return [
        "env",
        f"PATH={runtime.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        str(runtime.path("containerd")),
        "--config",
        str(layout.node_dirs(node).state / "containerd.toml"),
    ]


def kubelet(bins: Binaries, layout: Layout, node: LocalNode) -> list[str]:
    """The node's kubelet."""
    dirs = layout.node_dirs(node)
    return [
        str(bins.path("kubelet")),
        f"--config={dirs.state / 'kubelet.yaml'}",
        f"--kubeconfig={layout.kubeconfig_of('node-' + node.short)}",
        f"--root-dir={dirs.kubelet_root}",
        f"--cert-dir={dirs.kubelet_root / 'pki'}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.address}",
        "--v=1",
    ]


def kube_proxy(bins: Binaries, layout: Layout, node: LocalNode) -> list[str]:
    """The node's kube-proxy."""
    return [
        str(bins.path("kube-proxy")),
        f"--config={layout.node_dirs(node).state / 'kube-proxy.yaml'}",
        "--v=1",
    ]
