"""kind's cluster config, and the offline Corefile kind's CoreDNS is given where nothing can be
pulled."""

from __future__ import annotations

from kubelab.releases import DEFAULT_PROXY_MODE

# kubeadm's CoreDNS forwards names outside the cluster to the node's resolver; offline that
# answers SERVFAIL. A connected cluster's upstream answers NXDOMAIN for a name like "redis."; a
# second server block in the same CoreDNS plays that upstream (as on kubelab's local cluster).
OFFLINE_UPSTREAM = """
.:5353 {
    bind 127.0.0.1
    template ANY ANY {
        rcode NXDOMAIN
    }
}
"""


def kind_config(
    workers: int,
    etcd_tag: str | None = None,
    coredns_tag: str | None = None,
    proxy_mode: str = DEFAULT_PROXY_MODE,
    cgroup_v1: bool = False,
) -> str:
    """kind's cluster config: one control plane, ``workers`` workers, kube-proxy's mode, image
    tags for kubeadm, and on a cgroup v1 engine the kubelets' ``failCgroupV1: false`` (from 1.35
    the kubelet refuses v1 otherwise)."""
    lines = [
        "kind: Cluster",
        "apiVersion: kind.x-k8s.io/v1alpha4",
        "networking:",
        f"  kubeProxyMode: {proxy_mode}",
        "nodes:",
        "  - role: control-plane",
        *["  - role: worker"] * workers,
    ]
    patches = []
    if etcd_tag and coredns_tag:
        patches += [
            "  - |",
            "    kind: ClusterConfiguration",
            "    etcd:",
            "      local:",
            f"        imageTag: {etcd_tag}",
            "    dns:",
            f"      imageTag: {coredns_tag}",
        ]
    if cgroup_v1:
        patches += ["  - |", "    kind: KubeletConfiguration", "    failCgroupV1: false"]
    if patches:
        lines += ["kubeadmConfigPatches:", *patches]
    return "\n".join(lines) + "\n"


def offline_corefile(corefile: str) -> str:
    """kubeadm's Corefile with ``forward`` sent to an in-CoreDNS upstream that says NXDOMAIN."""
    if "127.0.0.1:5353" in corefile:
        return corefile
    lines = []
    for line in corefile.splitlines():
        if line.strip().startswith("forward . "):
            line = (
                line.split("forward . ")[0]
                + "forward . 127.0.0.1:5353"
                + (" {" if line.rstrip().endswith("{") else "")
            )
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n" + OFFLINE_UPSTREAM
