"""The pod sandbox ("pause") image: pause.c compiled statically, committed FROM scratch by buildah."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from kubelab import commands
from kubelab.errors import EnvironmentProblem
from kubelab.images.buildah import Buildah
from kubelab.names import PAUSE_IMAGE

log = logging.getLogger(__name__)

PAUSE = PAUSE_IMAGE
PAUSE_SOURCE = Path(__file__).with_name("pause.c")
CFLAGS = ("-static", "-Os", "-s", "-Wall", "-Wextra")
COMPILE_TIMEOUT = 120.0


def build_pause_image(cache_dir: Path) -> Path:
    """Build (or reuse) the pause image's OCI archive; rebuilt only when pause.c or CFLAGS change."""
    source = PAUSE_SOURCE.read_bytes()
    key = hashlib.sha256(source + "\0".join(CFLAGS).encode()).hexdigest()[:16]
    work = cache_dir / "images" / "pause"
    archive = work / f"pause-{key}.oci.tar"
    if archive.exists():
        return archive
    gcc = shutil.which("gcc")
    if gcc is None:
        raise EnvironmentProblem(
            "gcc not found: install it with `apt-get install -y gcc libc6-dev`"
        )
    work.mkdir(parents=True, exist_ok=True)
    binary = work / "pause"
    log.info("compiling %s (gcc %s)", PAUSE_SOURCE.name, " ".join(CFLAGS))
    commands.run(
        [gcc, *CFLAGS, "-o", binary, PAUSE_SOURCE],
        timeout=COMPILE_TIMEOUT,
        what="gcc of pause.c (static glibc needs libc6-dev)",
    )
    builder = Buildah(cache_dir)
    builder.ensure()
    builder.from_scratch(PAUSE, [(binary, "/pause")], entrypoint=["/pause"], user="65535:65535")
    builder.export(PAUSE, archive, "oci-archive")
    for stale in work.glob("pause-*"):
        if not stale.name.startswith(f"pause-{key}"):
            stale.unlink()
    log.info("built %s -> %s", PAUSE, archive)
    return archive
