"""A kind cluster's node containers as Docker knows them: which exist and from which image, and
the mode its kube-proxy runs in, so that a run never takes a cluster of another release or mode
for its own (pytest-kind reuses any cluster of the name), and so that what a run left behind can
be found and deleted."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubelab import commands
from kubelab.errors import EnvironmentProblem
from kubelab.names import CLUSTER_NAME
from kubelab.releases import DEFAULT_PROXY_MODE
from kubelab.waits import LONG

CLUSTER_LABEL = "io.x-k8s.kind.cluster"  # kind's label on each node container
NETWORK = "kind"  # the Docker network kind puts every cluster's nodes on


def node_images(cluster_name: str = CLUSTER_NAME) -> dict[str, str]:
    """Each node container of the kind cluster ``cluster_name``, running or not, and the image
    it was created from (empty when there is no such cluster)."""
    listed = commands.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label={CLUSTER_LABEL}={cluster_name}",
            "--format",
            "{{.Names}} {{.Image}}",
        ]
    )
    return dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)


def proxy_mode(cluster_name: str = CLUSTER_NAME) -> str:
    """kube-proxy's mode on the kind cluster ``cluster_name``, as its ConfigMap says (kubeadm
    writes kind's ``kubeProxyMode`` there; empty is iptables), read with the control plane's own
    kubectl; CommandFailed when the control plane cannot answer (30 s)."""
    conf = commands.run(
        [
            *("docker", "exec", f"{cluster_name}-control-plane"),
            *("kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "-n", "kube-system"),
            *("get", "configmap", "kube-proxy", "-o", "jsonpath={.data.config\\.conf}"),
        ]
    )
    return str((yaml.safe_load(conf) or {}).get("mode") or DEFAULT_PROXY_MODE)


def reuse_or_refuse(
    cluster_name: str, image: str, mode: str = DEFAULT_PROXY_MODE, kind_path: Path | str = "kind"
) -> bool:
    """Whether a kind cluster ``cluster_name`` of ``image`` with kube-proxy in ``mode`` is
    already there (pytest-kind reuses it: the run did not create it); a one-line
    EnvironmentProblem when one exists with a node from another image (another release: kept by
    --keep-cluster at it) or kube-proxy in another mode, or whose mode cannot be read."""
    there = node_images(cluster_name)
    delete = f"delete it (`{kind_path} delete cluster --name {cluster_name}`)"
    other = {n: i for n, i in sorted(there.items()) if i != image}
    if other:
        nodes = ", ".join(f"{n}: {i}" for n, i in other.items())
        raise EnvironmentProblem(
            f"kind cluster {cluster_name} exists with nodes from another image ({nodes}) and "
            f"this run asks for {image}: it is not reused; {delete} or ask for its release"
        )
    if not there:
        return False
    try:
        running = proxy_mode(cluster_name)
    except commands.CommandFailed as exc:
        raise EnvironmentProblem(
            f"kind cluster {cluster_name} exists and its kube-proxy mode cannot be read ({exc}): "
            f"it is not reused; start it, or {delete}"
        ) from None
    if running != mode:
        raise EnvironmentProblem(
            f"kind cluster {cluster_name} runs kube-proxy in {running} mode and this run asks for "
            f"{mode}: it is not reused; {delete} or ask for --proxy-mode {running}"
        )
    return True


def refuse_any(kind_path: Path | str, why: str, cluster_name: str = CLUSTER_NAME) -> None:
    """A one-line EnvironmentProblem when a kind cluster ``cluster_name`` exists at all, for a
    run that creates its own (``why`` says so)."""
    there = sorted(node_images(cluster_name))
    if there:
        raise EnvironmentProblem(
            f"kind cluster {cluster_name} exists ({', '.join(there)}): {why}; delete it first "
            f"(`{kind_path} delete cluster --name {cluster_name}`)"
        )


def delete_left_behind(kind_path: Path | str, cluster_name: str = CLUSTER_NAME) -> list[str]:
    """``kind delete cluster`` if any node of ``cluster_name`` is still there (timeout 300 s);
    the nodes it had (empty: there was none)."""
    left = sorted(node_images(cluster_name))
    if left:
        commands.run([kind_path, "delete", "cluster", "--name", cluster_name], timeout=LONG)
    return left


def network_exists() -> bool:
    """kind's Docker network exists (kind creates it with the first cluster and leaves it)."""
    return commands.query(["docker", "network", "inspect", NETWORK]) is not None


def remove_network() -> None:
    """Remove kind's Docker network (once no cluster is on it)."""
    commands.run(["docker", "network", "rm", NETWORK])
