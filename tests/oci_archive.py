"""Reading an OCI image archive in tests: index, manifest, image config, first layer's files."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any


def read_oci_archive(
    archive: Path,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
    """(index.json, the manifest, the image config, 'name mode' of each file in the first layer)."""
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        config_digest = manifest["config"]["digest"].removeprefix("sha256:")
        config = json.load(tar.extractfile(f"blobs/sha256/{config_digest}"))  # type: ignore[arg-type]
        layer_digest = manifest["layers"][0]["digest"].removeprefix("sha256:")
        with tarfile.open(fileobj=tar.extractfile(f"blobs/sha256/{layer_digest}")) as layer:
            files = [f"{m.name} {m.mode & 0o7777:o}" for m in layer.getmembers()]
    return index, manifest, config, files
