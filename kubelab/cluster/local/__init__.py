"""The local provider: real upstream Kubernetes as processes, each node in a network namespace."""

from __future__ import annotations

from kubelab.cluster.local.build import DEFAULT_K8S_VERSION
from kubelab.cluster.local.cluster import LocalCluster
from kubelab.cluster.local.plan import LocalNode

__all__ = ["DEFAULT_K8S_VERSION", "LocalCluster", "LocalNode"]
