"""The CoreDNS image: the binary kubelab built, FROM scratch (buildah), rebuilt only when it changes."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

from kubelab.images.coredns import build_coredns_image, coredns_image


def _read(archive: Path) -> tuple[dict, dict, list[str]]:
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        config_digest = manifest["config"]["digest"].removeprefix("sha256:")
        config = json.load(tar.extractfile(f"blobs/sha256/{config_digest}"))  # type: ignore[arg-type]
        layer_digest = manifest["layers"][0]["digest"].removeprefix("sha256:")
        with tarfile.open(fileobj=tar.extractfile(f"blobs/sha256/{layer_digest}")) as layer:
            files = [f"{m.name} {m.mode & 0o7777:o}" for m in layer.getmembers()]
    return index, config, files


def test_the_image_holds_only_the_binary_as_its_entrypoint(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    archive = build_coredns_image(tmp_path / "cache", binary, "1.2.3")
    index, config, files = _read(archive)
    ref = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    assert (ref, config["config"]["Entrypoint"], files) == (
        coredns_image("1.2.3"),
        ["/coredns"],
        ["coredns 755"],
    )
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]


def test_the_archive_is_reused_until_the_binary_changes(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"one")
    first = build_coredns_image(tmp_path / "cache", binary, "1.2.3")
    assert build_coredns_image(tmp_path / "cache", binary, "1.2.3") == first
    binary.write_bytes(b"two!")
    os.utime(binary, ns=(1, 1))
    second = build_coredns_image(tmp_path / "cache", binary, "1.2.3")
    assert second != first
    assert not first.exists()
