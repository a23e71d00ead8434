"""The pause image: a static binary FROM scratch (buildah), rebuilt only when pause.c changes."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from kubelab.hostpkgs import ensure_programs
from kubelab.images.pause import PAUSE, build_pause_image


@pytest.fixture(autouse=True, scope="module")
def gcc() -> None:
    """The pause binary is compiled on the host: install gcc (and static libc) or fail loudly."""
    ensure_programs({"gcc": "gcc"}, "the pause image's tests")


def test_pause_archive_is_cached_and_names_its_ref(tmp_path: Path) -> None:
    archive = build_pause_image(tmp_path)
    mtime = archive.stat().st_mtime_ns
    assert build_pause_image(tmp_path) == archive
    assert archive.stat().st_mtime_ns == mtime
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        config_digest = manifest["config"]["digest"].removeprefix("sha256:")
        config = json.load(tar.extractfile(f"blobs/sha256/{config_digest}"))  # type: ignore[arg-type]
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == PAUSE
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["User"] == "65535:65535"
    assert len(manifest["layers"]) == 1
