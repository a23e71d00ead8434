"""The cluster DNS image: the static CoreDNS binary kubelab builds, FROM scratch, as an OCI archive.

Like upstream's image (``FROM distroless/static``, ``COPY coredns /coredns``,
``ENTRYPOINT ["/coredns"]``), minus the distroless files CoreDNS never reads offline.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from kubelab.images.buildah import Buildah

log = logging.getLogger(__name__)


def coredns_image(version: str) -> str:
    """The image reference of CoreDNS ``version`` (``1.15.0``) as kubelab names it."""
    return f"kubelab.local/coredns:v{version}"


def build_coredns_image(cache_dir: Path, binary: Path, version: str) -> Path:
    """Build (or reuse) the CoreDNS image archive of ``version``; rebuilt only when the binary
    changes. One archive a version is kept: an upgrade imports the next release's while the
    cluster's own stays for its next boot."""
    st = binary.stat()
    inputs = f"buildah:{version}:{st.st_size}:{st.st_mtime_ns}"
    key = hashlib.sha256(inputs.encode()).hexdigest()[:16]
    work = cache_dir / "images" / "coredns"
    archive = work / f"coredns-v{version}-{key}.oci.tar"
    if archive.exists():
        return archive
    ref = coredns_image(version)
    builder = Buildah(cache_dir)
    builder.ensure()
    builder.from_scratch(ref, [(binary, "/coredns")], entrypoint=["/coredns"])
    builder.export(ref, archive, "oci-archive")
    for stale in work.glob("coredns-*"):
        # this version's older builds, and archives named before there was one per version
        if stale != archive and not _of_another_version(stale.name, version):
            stale.unlink()
    log.info("built %s -> %s", ref, archive)
    return archive


def _of_another_version(name: str, version: str) -> bool:
    return name.startswith("coredns-v") and not name.startswith(f"coredns-v{version}-")
