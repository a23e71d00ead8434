"""Container images: the lab's, built by buildah (buildah.py) on a debootstrap base (rootfs.py),
and ``Images``, the references the lab's manifests are given."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Images:
    """The image references the lab's manifests are given, and how nodes get them."""

    redis: str
    web_v1: str
    web_v2: str
    pull_policy: str = "IfNotPresent"
