"""The lab's images (redis, web 1.0 and 2.0), built by buildah from their Dockerfiles and cached.

The base image is the Debian root filesystem kubelab bootstraps (``rootfs``), committed FROM
scratch; ``app/Dockerfile`` and ``images/redis/Dockerfile`` are built on it (``BASE_IMAGE``
build arg). The web image's ``pip install`` runs with no network: the hash-pinned wheels of
``app/requirements.lock`` are downloaded on the host first and mounted for the build only.
"""

from __future__ import annotations

import hashlib
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

from kubelab import commands
from kubelab.errors import UsageError
from kubelab.images import Images
from kubelab.images.buildah import Buildah
from kubelab.images.rootfs import (
    LAYER_EXCLUDES,
    PYTHON_VERSION,
    base_recipe_key,
    build_base_rootfs,
    say,
    write_layer_tar,
)
from kubelab.locks import file_lock
from kubelab.names import REDIS_IMAGE as REDIS
from kubelab.names import WEB_V1_IMAGE as WEB_V1
from kubelab.names import WEB_V2_IMAGE as WEB_V2
from kubelab.waits import BUILD

BASE = "kubelab.local/base"
__all__ = ["REDIS", "WEB_V1", "WEB_V2", "build_lab_images", "lab_images_for_nodes"]

REDIS_CONTEXT = Path(__file__).with_name("redis")
WEB_BUILDS = {WEB_V1: {"VERSION": "1.0"}, WEB_V2: {"VERSION": "2.0"}}
BASE_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
)
# Where the wheels and a pip.conf pointing at them are mounted during RUN: a directory pip
# reads its site-wide configuration from (no-index, find-links), so the Dockerfile's own
# `pip install` line works unchanged and nothing of it stays in the image.
PIP_MOUNT = "/etc/xdg/pip"


def base_image(builder: Buildah, cache_dir: Path) -> str:
    """The base image's tag, committing it from the debootstrap root filesystem if needed."""
    key = hashlib.sha256(
        "\0".join([base_recipe_key(), *BASE_ENV, *LAYER_EXCLUDES]).encode()
    ).hexdigest()[:16]
    tag = f"{BASE}:{key}"
    if builder.image_id(tag):
        return tag
    rootfs = build_base_rootfs(cache_dir)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=cache_dir / "images") as tmp:
        layer = write_layer_tar(rootfs.root, Path(tmp) / "base.tar")
        builder.from_scratch(tag, [(layer, "/")], env=BASE_ENV)
    say(f"{tag}: committed from the root filesystem in {time.monotonic() - started:.1f} s")
    return tag


def download_wheels(lock: Path, cache_dir: Path) -> Path:
    """The wheels ``lock`` pins (hash-checked), for the base's python, plus a pip.conf for RUN."""
    if not lock.is_file():
        raise UsageError(f"{lock} does not exist (the web image's hash-pinned requirements)")
    key = hashlib.sha256(lock.read_bytes() + PYTHON_VERSION.encode()).hexdigest()[:16]
    dest = cache_dir / "images" / "wheels" / key
    done = dest / "pip.conf"
    if done.exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    # Every pin, whatever its environment marker: pip evaluates markers against the python it
    # runs on, not the image's; pip in the image picks what applies there.
    unmarked = dest / "requirements.txt"
    unmarked.write_text(re.sub(r"^(\S[^;\\\n]*?)\s*;[^\\\n]*", r"\1", lock.read_text(), flags=re.M))
    arch = platform.machine()
    abi = "cp" + PYTHON_VERSION.replace(".", "")
    argv = [
        *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"),
        *("--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION),
        *("--abi", abi, "--abi", "abi3", "--abi", "none"),
        *(f"--platform=manylinux_2_{glibc}_{arch}" for glibc in (36, 28, 17, 5)),
        *(f"--platform=manylinux{tag}_{arch}" for tag in ("2014", "2010", "1")),
        *("--dest", str(dest), "--requirement", str(unmarked)),
    ]
    say(f"downloading the wheels {lock.name} pins (hash-checked)")
    commands.run(argv, timeout=BUILD, what=f"pip download of {lock}")
    done.write_text(f"[global]\nno-index = true\nfind-links = {PIP_MOUNT}\n")
    return dest


def build_lab_images(app_dir: Path, cache_dir: Path, builder: Buildah | None = None) -> list[str]:
    """Build redis and web 1.0/2.0 into kubelab's image store, only what changed; return the refs.

    A warm call (inputs unchanged) builds nothing; a cold one debootstraps the base first (no
    network for RUN).
    """
    builder = builder or Buildah(cache_dir)
    builder.ensure()
    with file_lock(cache_dir / "images" / ".lock"):  # two runs would build the same images
        base = base_image(builder, cache_dir)
        wanted = {REDIS: (REDIS_CONTEXT, {"BASE_IMAGE": base})}
        for ref, args in WEB_BUILDS.items():
            wanted[ref] = (app_dir, {"BASE_IMAGE": base, **args})
        for ref, (context, args) in wanted.items():
            if builder.is_current(ref, builder.inputs(context, args)):
                continue
            volumes = []
            if context == app_dir:
                wheels = download_wheels(app_dir / "requirements.lock", cache_dir)
                volumes.append(f"{wheels}:{PIP_MOUNT}:ro")
            builder.build(context, ref, build_args=args, volumes=volumes)
    return list(wanted)


def export_lab_images(app_dir: Path, cache_dir: Path, fmt: str = "oci-archive") -> dict[str, Path]:
    """Build the lab's images if needed; return ref -> archive (``oci-archive`` for containerd's
    import, ``docker-archive`` for ``docker load`` / ``kind load image-archive``)."""
    builder = Buildah(cache_dir)
    refs = build_lab_images(app_dir, cache_dir, builder)
    out = cache_dir / "images" / "archives"
    archives: dict[str, Path] = {}
    for ref in refs:
        image = cast(str, builder.image_id(ref))  # built, or found current, just above
        name = ref.rsplit("/", 1)[-1].replace(":", "-")
        suffix = ".oci.tar" if fmt == "oci-archive" else ".docker.tar"
        archive = out / f"{name}-{image[:16]}{suffix}"
        if not archive.exists():
            builder.export(ref, archive, fmt)
            for stale in out.glob(f"{name}-*{suffix}"):
                if stale != archive:
                    stale.unlink()
        archives[ref] = archive
    return archives


def lab_images_for_nodes(app_dir: Path, cache_dir: Path) -> tuple[Images, dict[str, Path]]:
    """Build the lab's images if needed and export them for a provider to put on its nodes; their
    names (never pulled) and ref -> OCI archive."""
    archives = export_lab_images(app_dir, cache_dir)
    return Images(redis=REDIS, web_v1=WEB_V1, web_v2=WEB_V2, pull_policy="Never"), archives


def push_lab_images(app_dir: Path, cache_dir: Path, registry: str, *, tls_verify: bool) -> Images:
    """Build the lab's images if needed and push them to ``registry``; return their new names."""
    registry = registry.removeprefix("docker://").rstrip("/")
    if not registry or " " in registry:
        raise UsageError(f"registry {registry!r}: expected HOST[:PORT][/PATH]")
    builder = Buildah(cache_dir)
    refs = build_lab_images(app_dir, cache_dir, builder)
    names = {ref: f"{registry}/{ref.split('/', 1)[1]}" for ref in refs}
    for ref, dest in names.items():
        started = time.monotonic()
        builder.push(ref, dest, tls_verify=tls_verify)
        say(f"pushed {dest} in {time.monotonic() - started:.1f} s")
    return Images(redis=names[REDIS], web_v1=names[WEB_V1], web_v2=names[WEB_V2])
