"""Container images: the lab's, built by buildah (buildah.py) on a debootstrap base (rootfs.py)."""

from __future__ import annotations
