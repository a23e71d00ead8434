"""Images are imported only into nodes that lack them, by name and digest."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from kubelab.cluster.local.containerd import archive_images, parse_ctr_images

WEB = "sha256:" + "a" * 64
REDIS = "sha256:" + "b" * 64


def _archive(path: Path, manifests: list[dict[str, object]]) -> Path:
    with tarfile.open(path, "w") as tar:
        data = json.dumps({"schemaVersion": 2, "manifests": manifests}).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_images_names_each_manifest_by_its_full_reference(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path / "a.tar",
        [
            {
                "digest": WEB,
                "annotations": {"org.opencontainers.image.ref.name": "k.local/web:1.0"},
            },
            {"digest": REDIS, "annotations": {"io.containerd.image.name": "k.local/redis:7"}},
            {"digest": REDIS, "annotations": {"org.opencontainers.image.ref.name": "7"}},  # a tag
            {"digest": REDIS},
        ],
    )
    assert archive_images(archive) == {"k.local/web:1.0": WEB, "k.local/redis:7": REDIS}


def test_parse_ctr_images_reads_name_and_digest() -> None:
    listing = (
        "REF                   TYPE                                                 DIGEST SIZE PLATFORMS LABELS\n"
        f"k.local/web:1.0       application/vnd.oci.image.manifest.v1+json {WEB} 51.7 MiB linux/amd64 io.cri-containerd.image=managed\n"
        f"{REDIS}     application/vnd.oci.image.manifest.v1+json {REDIS} 47.9 MiB linux/amd64 -\n"
    )
    images = parse_ctr_images(listing)
    assert images["k.local/web:1.0"] == WEB
    # A node has the archive's images when every name maps to the same digest.
    assert {"k.local/web:1.0": WEB}.items() <= images.items()
    assert not {"k.local/web:1.0": REDIS}.items() <= images.items()
