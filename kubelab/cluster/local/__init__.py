"""The local provider: real upstream Kubernetes as processes, each node in a network namespace.

Commands (root, Linux): ``kubelab local up [--workers N] [--k8s-version 1.3X[.Z]] [--proxy-mode iptables|nftables]``,
``kubelab local down``, ``kubelab local status`` (exit 0 when healthy, 3 otherwise),
``kubelab local kubeconfig``.

Layout (see ``plan`` for the address plan):

- host netns: bridge ``klab0`` 172.30.0.1/24, a route per node pod /24, ip_forward on
  (restored by down), FORWARD ACCEPT rules for klab0 only when the policy is DROP, and a
  FORWARD REJECT for what a node or pod sends out of the bridge (the cluster talks only on it);
- ``<name>-cp`` (node ``<name>-control-plane``, 172.30.0.10, pods 10.244.0.0/24): etcd on
  127.0.0.1, kube-apiserver on :6443, controller-manager, scheduler, and
  containerd + kubelet + kube-proxy; tainted and labelled control-plane;
- ``<name>-w<i>`` (node ``<name>-worker<i>``, 172.30.0.(10+i), pods 10.244.i.0/24):
  containerd, kubelet, kube-proxy.

Services 10.96.0.0/16. Cluster DNS is kubeadm's add-on (``coredns.yaml``): the ``coredns``
Deployment in kube-system behind the ``kube-dns`` Service 10.96.0.10, its image built from the
CoreDNS binary kubelab builds. Names outside cluster.local get NXDOMAIN.

Files: binaries in ``$KUBELAB_CACHE_DIR/k8s/v<version>/bin`` and ``runtime/``; per cluster in
``$KUBELAB_STATE_DIR/clusters/<name>/``: ``kubeconfig`` (admin, 0600), ``pki/`` (0700, keys
0600), ``nodes/<short>/`` (containerd root, kubelet root, CNI, configs), ``logs/<short>-<component>.log``
(kept by down), ``pids/``; runtime files in ``/run/kubelab/<name>/``. One local cluster per host.
"""

from __future__ import annotations

from kubelab.cluster.local.cluster import LocalCluster
from kubelab.cluster.local.plan import LocalNode
from kubelab.cluster.local.provider import LocalProvider

__all__ = ["LocalCluster", "LocalNode", "LocalProvider"]
