"""The local cluster's cgroup cleanup, on a stand-in hierarchy of plain directories (no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.cluster.local import cleanup


def test_a_cgroup_its_container_removed_first_counts_as_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI's teardown failed on `rmdir` of a container's cgroup that the container's runc, exiting
    with it, had just removed (ENOENT): the tree is gone either way, and so is the error."""
    hierarchy = tmp_path / "cpu"  # stands in for /sys/fs/cgroup/cpu
    container = hierarchy / "kubelab/c1/w1/kubepods/besteffort/pod1/ctr1"
    container.mkdir(parents=True)
    monkeypatch.setattr(cleanup, "cgroup_hierarchies", lambda: [hierarchy])
    walk = cleanup._cgroup_dirs
    listed: list[list[Path]] = []

    def runc_wins_the_race(relative: str) -> list[Path]:
        listed.append(walk(relative))
        if len(listed) > 1 and container.is_dir():  # listed for removal, then gone:
            container.rmdir()  # what the exiting container's runc does meanwhile
        return listed[-1]

    monkeypatch.setattr(cleanup, "_cgroup_dirs", runc_wins_the_race)
    cleanup.remove_cgroup("/kubelab/c1/w1")
    assert container in listed[-1]
    assert not (hierarchy / "kubelab").exists()
