"""Where kubelab keeps its caches (binaries, images) and its state (clusters)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "kubelab"


def cache_dir() -> Path:
    """Cache directory: $KUBELAB_CACHE_DIR, else the user's cache directory ($XDG_CACHE_HOME/kubelab,
    ~/.cache/kubelab when unset)."""
    env = os.environ.get("KUBELAB_CACHE_DIR")
    return Path(env) if env else platformdirs.user_cache_path(APP, appauthor=False)


def state_dir() -> Path:
    """State directory: $KUBELAB_STATE_DIR, else the user's state directory ($XDG_STATE_HOME/kubelab,
    ~/.local/state/kubelab when unset)."""
    env = os.environ.get("KUBELAB_STATE_DIR")
    return Path(env) if env else platformdirs.user_state_path(APP, appauthor=False)


def source_dir(name: str) -> Path:
    """A directory of kubelab's source tree (``app``, ``manifests``): $KUBELAB_<NAME>, else the
    one beside the package."""
    env = os.environ.get(f"KUBELAB_{name.upper()}")
    return Path(env) if env else Path(__file__).resolve().parents[1] / name
