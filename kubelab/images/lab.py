"""The lab's images (redis, web 1.0 and 2.0) as OCI archives, built locally and cached."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from kubelab.images import dockerfile
from kubelab.images.oci import ImageConfig, prepare_layer, write_archive
from kubelab.images.pause import PAUSE
from kubelab.images.rootfs import base_recipe_key, build_base_rootfs, say
from kubelab.locks import file_lock
from kubelab.names import REDIS_IMAGE as REDIS
from kubelab.names import WEB_V1_IMAGE as WEB_V1
from kubelab.names import WEB_V2_IMAGE as WEB_V2

__all__ = ["PAUSE", "REDIS", "WEB_V1", "WEB_V2", "build_lab_images"]

REDIS_CONFIG = ImageConfig(
    env=dockerfile.BASE_ENV,
    cmd=[
        "redis-server",
        "--bind",
        "0.0.0.0",
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ],
    user="redis",
    working_dir="/var/lib/redis",
    exposed_ports=["6379"],
)
WEB_BUILDS = {WEB_V1: {"VERSION": "1.0"}, WEB_V2: {"VERSION": "2.0"}}


def build_lab_images(app_dir: Path, cache_dir: Path) -> dict[str, Path]:
    """Return ref -> OCI archive for redis and web 1.0/2.0, building only what changed.

    Cached by a hash of the inputs (Dockerfile, every file it COPYs, build args, base recipe):
    a warm call builds nothing. A cold one takes a few minutes (debootstrap, pip install).
    """
    out_dir = cache_dir / "images" / "lab"
    base_key = base_recipe_key()
    redis_key = _short(base_key, json.dumps(dataclasses.asdict(REDIS_CONFIG), sort_keys=True))
    wanted = {REDIS: out_dir / f"redis-7-{redis_key}.oci.tar"}
    for ref, args in WEB_BUILDS.items():
        key = _short(base_key, dockerfile.inputs_hash(app_dir, args))
        wanted[ref] = out_dir / f"web-{args['VERSION']}-{key}.oci.tar"
    missing = {ref: path for ref, path in wanted.items() if not path.exists()}
    if not missing:
        return wanted
    out_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir / ".lock"):  # two sessions building at once would race
        missing = {ref: path for ref, path in missing.items() if not path.exists()}
        started = time.monotonic()
        base = build_base_rootfs(cache_dir) if missing else None
        for ref, path in missing.items():
            assert base is not None
            if ref == REDIS:
                layer = prepare_layer(base.layer_tar)
                history = [f"kubelab debootstrap base {base.key}"]
                write_archive(path, REDIS, [layer], REDIS_CONFIG, history=history)
                say(f"{REDIS}: written (base layer + redis-server command) -> {path.name}")
            else:
                work = cache_dir / "images" / "build" / path.name.removesuffix(".oci.tar")
                dockerfile.build_image(app_dir, ref, WEB_BUILDS[ref], base, path, work)
            _drop_stale(path)
        if missing:
            say(f"lab images ready in {time.monotonic() - started:.0f} s")
    return wanted


def _short(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _drop_stale(current: Path) -> None:
    """Remove older archives of the same image (same name, other input hash)."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    for other in current.parent.glob(prefix + "*.oci.tar"):
        if other != current and len(other.name) == len(current.name):
            other.unlink()
