from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.paths import cache_dir, state_dir


def test_kubelab_variables_come_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("KUBELAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBELAB_STATE_DIR", str(tmp_path / "state"))
    assert (cache_dir(), state_dir()) == (tmp_path / "cache", tmp_path / "state")


def test_xdg_variables_are_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("KUBELAB_CACHE_DIR", raising=False)
    monkeypatch.delenv("KUBELAB_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert (cache_dir(), state_dir()) == (tmp_path / "c" / "kubelab", tmp_path / "s" / "kubelab")


def test_without_variables_the_caches_stay_where_they_always_were(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    for name in ("KUBELAB_CACHE_DIR", "KUBELAB_STATE_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "kubelab"
    assert state_dir() == tmp_path / ".local" / "state" / "kubelab"
