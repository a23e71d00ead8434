"""The pod sandbox ("pause") image: pause.c compiled statically, committed FROM scratch by buildah."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from kubelab import commands
from kubelab.errors import EnvironmentProblem
from kubelab.images.buildah import Buildah
from kubelab.names import PAUSE_REPO
from kubelab.waits import MEDIUM

log = logging.getLogger(__name__)

PAUSE_SOURCE = Path(__file__).with_name("pause.c")
CFLAGS = ("-static", "-Os", "-s", "-Wall", "-Wextra")


def pause_image(version: str) -> str:
    """The local cluster's pause image for the pause ``version`` a release pins."""
    return f"{PAUSE_REPO}:{version}"


def _key() -> str:
    """A hash of what the binary is made of: pause.c and CFLAGS."""
    source = PAUSE_SOURCE.read_bytes()
    return hashlib.sha256(source + "\0".join(CFLAGS).encode()).hexdigest()[:16]


def pause_binary(cache_dir: Path) -> Path:
    """pause.c compiled statically (or found compiled); recompiled only when pause.c or CFLAGS
    change (gcc, 120 s)."""
    work = cache_dir / "images" / "pause"
    binary = work / f"pause-{_key()}"
    if binary.exists():
        return binary
    gcc = shutil.which("gcc")
    if gcc is None:
        raise EnvironmentProblem(
            "gcc not found: install it with `apt-get install -y gcc libc6-dev`"
        )
    work.mkdir(parents=True, exist_ok=True)
    compiled = work / "pause.tmp"
    log.info("compiling %s (gcc %s)", PAUSE_SOURCE.name, " ".join(CFLAGS))
    commands.run(
        [gcc, *CFLAGS, "-o", compiled, PAUSE_SOURCE],
        timeout=MEDIUM,
        what="gcc of pause.c (static glibc needs libc6-dev)",
    )
    compiled.replace(binary)
    return binary


def build_pause_image(cache_dir: Path, ref: str) -> Path:
    """Build (or reuse) the OCI archive of the pause image ``ref``; rebuilt only when pause.c
    or CFLAGS change."""
    binary = pause_binary(cache_dir)
    key = binary.name.removeprefix("pause-")
    work = binary.parent
    archive = work / f"pause-{key}-{ref.rsplit(':', 1)[-1]}.oci.tar"
    if archive.exists():
        return archive
    builder = Buildah(cache_dir)
    builder.ensure()
    builder.from_scratch(ref, [(binary, "/pause")], entrypoint=["/pause"], user="65535:65535")
    builder.export(ref, archive, "oci-archive")
    for stale in work.glob("pause*"):
        if not stale.name.startswith(f"pause-{key}"):
            stale.unlink()
    log.info("built %s -> %s", ref, archive)
    return archive
