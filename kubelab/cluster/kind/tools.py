"""The kind CLI and crictl, built from their Go modules into kubelab's cache when not on PATH."""

from __future__ import annotations

import shutil
from pathlib import Path

from kubelab.build import go

# Both move with a new release if needed (a kind publishing its kindest/node, crictl of its minor).
KIND_VERSION = "v0.33.0"
KIND_MODULE = "sigs.k8s.io/kind"
CRICTL_VERSION = "v1.37.0"
CRICTL_PACKAGE = "sigs.k8s.io/cri-tools/cmd/crictl"


def kind_cli(cache: Path) -> Path:
    """The kind CLI: the one on PATH, else kind KIND_VERSION built into the cache (~1 min cold)."""
    found = shutil.which("kind")
    if found:
        return Path(found)
    return go.go_install(KIND_MODULE, KIND_VERSION, cache / "kind" / KIND_VERSION, "kind")


def kind_module_dir(cache: Path) -> Path:
    """The kind module's source (its base image files), from the Go module cache."""
    return go.module_dir(KIND_MODULE, KIND_VERSION, cache)


def crictl(cache: Path) -> Path:
    """crictl, which kind and the lab use on every node (not packaged in Debian 12)."""
    return go.go_install(
        CRICTL_PACKAGE, CRICTL_VERSION, cache / "kind" / "crictl" / CRICTL_VERSION, "crictl"
    )
