"""The existing provider: a cluster kubelab did not make (a Vagrant one, or any kubeconfig)."""

from __future__ import annotations

from kubelab.cluster.existing.provider import ExistingCluster

__all__ = ["ExistingCluster"]
