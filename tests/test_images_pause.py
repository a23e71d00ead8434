"""The pause image: a static binary FROM scratch (buildah), rebuilt only when pause.c changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.hostpkgs import ensure_programs
from kubelab.images.pause import build_pause_image, pause_binary, pause_image
from tests.oci_archive import read_oci_archive


@pytest.fixture(autouse=True, scope="module")
def gcc() -> None:
    """The pause binary is compiled on the host: install gcc (and static libc) or fail loudly."""
    ensure_programs({"gcc": "gcc"}, "the pause image's tests")


def test_pause_archive_is_cached_and_names_its_ref(tmp_path: Path) -> None:
    ref = pause_image("3.10.2")
    archive = build_pause_image(tmp_path, ref)
    mtime = archive.stat().st_mtime_ns
    assert build_pause_image(tmp_path, ref) == archive
    assert archive.stat().st_mtime_ns == mtime
    index, manifest, config, _ = read_oci_archive(archive)
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == ref
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["User"] == "65535:65535"
    assert len(manifest["layers"]) == 1
    # another release's tag: another archive of the same binary, the first one kept
    binary = pause_binary(tmp_path)
    other = build_pause_image(tmp_path, pause_image("3.10.1"))
    index, *_ = read_oci_archive(other)
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == (
        "kubelab.local/pause:3.10.1"
    )
    assert other != archive
    assert archive.exists()
    assert pause_binary(tmp_path) == binary
    assert binary.stat().st_mtime_ns < archive.stat().st_mtime_ns  # compiled once
