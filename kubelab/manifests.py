"""The lab's manifests: plain namespace-less YAML files, images injected at apply time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubelab.errors import UsageError
from kubelab.images import Images
from kubelab.paths import source_dir

# Placeholders the YAML files use where an image goes.
WEB_IMAGE = "WEB_IMAGE"
REDIS_IMAGE = "REDIS_IMAGE"


def manifests_dir() -> Path:
    """The directory holding the lab's YAML: $KUBELAB_MANIFESTS, else the repository's manifests/."""
    return source_dir("manifests")


def read(name: str, directory: Path | None = None) -> dict[str, Any]:
    """Parse ``<name>.yml``; a missing or malformed file is a one-line UsageError."""
    path = (directory or manifests_dir()) / f"{name}.yml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"manifest {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError(f"manifest {path}{where}: does not parse ({problem})") from None
    if not isinstance(data, dict) or "kind" not in data:
        raise UsageError(f"manifest {path}: expected one Kubernetes object with a kind")
    if "namespace" in data.get("metadata", {}):
        raise UsageError(f"manifest {path}: must not name a namespace; it is set at apply time")
    return data


def render(name: str, images: Images, web_version: str = "1.0") -> dict[str, Any]:
    """The manifest ``name`` with its images and pull policy filled in for this cluster."""
    data = read(name)
    substitutes = {
        WEB_IMAGE: images.web_v2 if web_version == "2.0" else images.web_v1,
        REDIS_IMAGE: images.redis,
    }
    for container in _containers(data):
        image = container.get("image")
        if image in substitutes:
            container["image"] = substitutes[image]
            container["imagePullPolicy"] = images.pull_policy
    return data


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {})
    if "template" in spec:
        spec = spec["template"].get("spec", {})
    return list(spec.get("containers", []))
