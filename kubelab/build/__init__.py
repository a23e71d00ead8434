"""Building what the clusters run from Go modules, cached: Kubernetes with the etcd and CoreDNS
its kubeadm pins (``kubernetes``), containerd and runc (``runtime``), on one Go toolchain
helper (``go``). The local cluster and kind's node image both build through these names."""

from __future__ import annotations

from kubelab.build.kubernetes import KIND_EXTRA_BINARIES, Binaries, ensure_binaries
from kubelab.build.runtime import Runtime, ensure_runtime

__all__ = ["KIND_EXTRA_BINARIES", "Binaries", "Runtime", "ensure_binaries", "ensure_runtime"]
