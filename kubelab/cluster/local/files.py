"""Write a cluster's certificates, kubeconfigs and per-node configuration files; read and
update its ``cluster.json`` (what it was started with and runs now)."""

from __future__ import annotations

import json
from pathlib import Path

from kubelab.cluster.local import bootstrap, configs, pki, plan
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.hostdeps import cgroup_v2
from kubelab.cluster.local.plan import LocalNode

# Components whose /healthz port on the control plane's loopback needs a serving certificate.
SERVING_ON_LOOPBACK = ("kube-controller-manager", "kube-scheduler")


def write_pki(layout: Layout, nodes: list[LocalNode]) -> None:
    """CA, serving and client certificates, service-account keys and every kubeconfig."""
    d = layout.pki
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o700)
    cp = plan.control_plane(nodes)
    server = plan.apiserver_url(nodes)
    ca = pki.new_ca(f"{layout.cluster}-ca")
    pki.write_pair(d, "ca", ca)
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{plan.CLUSTER_DOMAIN}",
        "localhost",
    ]
    pki.write_pair(
        d,
        "apiserver",
        pki.issue(
            ca,
            "kube-apiserver",
            client=False,
            server=True,
            dns_names=dns,
            ips=[cp.address, plan.KUBERNETES_SERVICE_IP, "127.0.0.1"],
        ),
    )
    pki.write_pair(d, "apiserver-kubelet-client", pki.issue(ca, bootstrap.APISERVER_KUBELET_USER))
    for component in SERVING_ON_LOOPBACK:  # else each makes an RSA key as it starts
        serving = pki.issue(
            ca, component, client=False, server=True, dns_names=["localhost"], ips=["127.0.0.1"]
        )
        pki.write_pair(d, component, serving)
    sa_key, sa_pub = pki.service_account_keys()
    pki.write_private(d / "sa.key", sa_key)
    (d / "sa.pub").write_bytes(sa_pub)

    def kubeconfig(path: Path, user: str, groups: tuple[str, ...] = ()) -> None:
        pki.write_private(
            path,
            pki.kubeconfig(layout.cluster, server, ca.cert_pem, user, pki.issue(ca, user, groups)),
        )

    kubeconfig(layout.admin_kubeconfig, "kubelab-admin", ("system:masters",))
    kubeconfig(layout.kubeconfig_of("controller-manager"), "system:kube-controller-manager")
    kubeconfig(layout.kubeconfig_of("scheduler"), "system:kube-scheduler")
    kubeconfig(layout.kubeconfig_of("kube-proxy"), "system:kube-proxy")
    for node in nodes:
        kubeconfig(
            layout.kubeconfig_of(f"node-{node.short}"),
            f"system:node:{node.name}",
            ("system:nodes",),
        )
        serving = pki.issue(
            ca, node.name, client=False, server=True, dns_names=[node.name], ips=[node.address]
        )
        pki.write_pair(d, f"kubelet-{node.short}", serving)


def write_node_files(
    layout: Layout, node: LocalNode, runc: Path, pause: str, proxy_mode: str
) -> None:
    """A node's directories and config files: containerd (running ``runc``, ``pause`` the pod
    sandbox image), CNI, kubelet, kube-proxy (in ``proxy_mode``)."""
    dirs = layout.node_dirs(node)
    for d in (
        dirs.state,
        dirs.run,
        dirs.cni_conf_dir,
        dirs.cni_data_dir,
        dirs.kubelet_root,
        dirs.pod_logs,
    ):
        d.mkdir(parents=True, exist_ok=True)
    dirs.resolv_conf.write_text("")
    (dirs.state / "containerd.toml").write_text(configs.containerd_config(node, dirs, runc, pause))
    (dirs.cni_conf_dir / "10-kubelab.conflist").write_text(
        configs.cni_config(layout.cluster, node, dirs)
    )
    (dirs.state / "kubelet.yaml").write_text(
        configs.kubelet_config(layout.cluster, node, dirs, layout.pki, not cgroup_v2())
    )
    proxy_kc = layout.kubeconfig_of("kube-proxy")
    (dirs.state / "kube-proxy.yaml").write_text(
        configs.kube_proxy_config(node, proxy_kc, proxy_mode)
    )


def read_meta(layout: Layout) -> dict[str, object] | None:
    """The cluster's ``cluster.json`` (None: there is none, or it does not parse)."""
    try:
        meta = json.loads(layout.meta.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def update_meta(layout: Layout, **changes: object) -> None:
    """Set ``changes`` in the cluster's ``cluster.json``, keeping the rest."""
    meta = read_meta(layout) or {}
    meta.update(changes)
    layout.meta.write_text(json.dumps(meta))
