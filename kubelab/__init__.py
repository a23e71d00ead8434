"""kubelab: the Kubernetes 101 lab as executable documentation."""

from __future__ import annotations

__version__ = "0.1.0"
