"""The CoreDNS image: the binary kubelab built, FROM scratch (buildah), rebuilt only when it changes."""

from __future__ import annotations

import os
from pathlib import Path

from kubelab.images.coredns import build_coredns_image, coredns_image
from tests.oci_archive import read_oci_archive


def test_the_image_holds_only_the_binary_as_its_entrypoint(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    archive = build_coredns_image(tmp_path / "cache", binary, "1.2.3")
    index, _, config, files = read_oci_archive(archive)
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


def test_each_version_keeps_its_own_archive(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    binary.write_bytes(b"one")
    legacy = tmp_path / "cache" / "images" / "coredns" / "coredns-0123456789abcdef.oci.tar"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"")  # named before there was one archive per version
    old = build_coredns_image(tmp_path / "cache", binary, "1.14.2")
    new = build_coredns_image(tmp_path / "cache", binary, "1.14.6")
    assert old != new
    assert sorted(p.name for p in old.parent.iterdir()) == sorted([old.name, new.name])
