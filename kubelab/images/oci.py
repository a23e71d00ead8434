"""OCI image archives written locally (no Docker, no registry) and imported into a containerd.

An archive is a tar of an OCI image layout: ``oci-layout``, ``index.json`` and
``blobs/sha256/*`` (manifest, config, layers). Everything is deterministic -- sorted entries,
fixed mtimes and owners, a fixed ``created`` date -- so the same inputs give the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubelab.errors import EnvironmentProblem, KubelabError

log = logging.getLogger(__name__)

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
# A fixed date keeps config digests reproducible (as SOURCE_DATE_EPOCH=0 would).
CREATED = "1970-01-01T00:00:00Z"
IMPORT_TIMEOUT = 300.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what a Dockerfile's ENV/CMD/USER/... set)."""

    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    working_dir: str = ""
    user: str = ""
    exposed_ports: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``config`` object of an OCI image config, with empty fields left out."""
        out: dict[str, object] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {_port(p): {} for p in sorted(self.exposed_ports)}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(sorted(self.labels.items()))
        return out


def _port(port: str) -> str:
    return port if "/" in port else f"{port}/tcp"


@dataclass(frozen=True)
class Layer:
    """A layer blob ready to go into an archive: its file, digests, size and media type."""

    blob: Path
    digest: str  # sha256:... of the blob (compressed or not)
    diff_id: str  # sha256:... of the uncompressed tar
    size: int
    media_type: str


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's content."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def prepare_layer(tar_path: Path, *, compress: bool = True) -> Layer:
    """Turn an uncompressed layer tar into a Layer, gzipping it next to itself when asked.

    The result is remembered in ``<tar>.layer.json`` and reused while the tar is unchanged, so a
    base layer shared by several images is hashed and compressed once.
    """
    st = tar_path.stat()
    meta_path = tar_path.with_name(tar_path.name + (".gz" if compress else "") + ".layer.json")
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "compress": compress}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        blob = Path(meta["blob"])
        if meta.get("key") == key and blob.exists() and blob.stat().st_size == meta["size"]:
            return Layer(blob, meta["digest"], meta["diff_id"], meta["size"], meta["media_type"])
    if compress:
        blob = tar_path.with_name(tar_path.name + ".gz")
        diff = hashlib.sha256()
        tmp = blob.with_name(blob.name + ".tmp")
        # mtime=0 and no file name in the gzip header: same tar, same blob digest.
        with (
            tar_path.open("rb") as src,
            tmp.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
        ):
            while chunk := src.read(_CHUNK):
                diff.update(chunk)
                gz.write(chunk)
        tmp.replace(blob)
        diff_id = "sha256:" + diff.hexdigest()
        digest = sha256_file(blob)
        media_type = MEDIA_LAYER_GZIP
    else:
        blob = tar_path
        diff_id = digest = sha256_file(tar_path)
        media_type = MEDIA_LAYER_TAR
    layer = Layer(blob, digest, diff_id, blob.stat().st_size, media_type)
    meta_path.write_text(
        json.dumps(
            {
                "key": key,
                "blob": str(blob),
                "digest": digest,
                "diff_id": diff_id,
                "size": layer.size,
                "media_type": media_type,
            }
        )
    )
    return layer


def image_config_json(
    config: ImageConfig, layers: Sequence[Layer], history: Sequence[str]
) -> bytes:
    """The OCI image config blob (amd64/linux) for these layers."""
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": CREATED, "created_by": h} for h in history],
    }
    return _canonical(doc)


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(
    dest: Path,
    ref: str,
    layers: Sequence[Layer],
    config: ImageConfig,
    *,
    history: Sequence[str] = (),
) -> str:
    """Write an OCI image layout tar for ``ref`` to ``dest``; return the manifest digest."""
    if ":" not in ref.rsplit("/", 1)[-1] or "/" not in ref:
        raise KubelabError(f"image ref {ref!r}: expected a full name like kubelab.local/web:1.0")
    config_blob = image_config_json(config, layers, history or ["kubelab"] * len(layers))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {
            "mediaType": MEDIA_CONFIG,
            "digest": _digest(config_blob),
            "size": len(config_blob),
        },
        "layers": [
            {"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}
            for layer in layers
        ],
    }
    manifest_blob = _canonical(manifest)
    manifest_digest = _digest(manifest_blob)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_blob),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {ANNOTATION_REF_NAME: ref, ANNOTATION_CONTAINERD_NAME: ref},
            }
        ],
    }
    small: dict[str, bytes] = {
        "oci-layout": _canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": _canonical(index),
        _blob_name(_digest(config_blob)): config_blob,
        _blob_name(manifest_digest): manifest_blob,
    }
    large = {_blob_name(layer.digest): layer.blob for layer in layers}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_fixed(tarfile.TarInfo(d), tarfile.DIRTYPE, 0o755, 0))
        for name in sorted({*small, *large}):
            if name in small:
                data = small[name]
                tar.addfile(
                    _fixed(tarfile.TarInfo(name), tarfile.REGTYPE, 0o644, len(data)),
                    io.BytesIO(data),
                )
            else:
                path = large[name]
                with path.open("rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    tar.addfile(_fixed(tarfile.TarInfo(name), tarfile.REGTYPE, 0o644, size), f)
    tmp.replace(dest)
    return manifest_digest


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _fixed(info: tarfile.TarInfo, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# ---------------------------------------------------------------------------------------------
# Layer tars from directories

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


def tar_directory(
    src: Path,
    dest: Path,
    *,
    overlay_upper: bool = False,
    exclude: Iterable[str] = (),
    mtime: int | None = 0,
) -> Path:
    """Write a deterministic layer tar of the tree ``src`` (paths relative to it) to ``dest``.

    With ``overlay_upper`` the tree is an overlayfs upper dir: whiteouts (char device 0/0)
    become OCI ``.wh.<name>`` files and opaque dirs get a ``.wh..wh..opq`` entry. ``exclude``
    lists relative paths whose *contents* are left out (e.g. ``dev``, ``proc``). ``mtime``
    replaces every mtime unless None.
    """
    excluded = {e.strip("/") for e in exclude}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk_sorted(src, excluded):
            path = src / rel
            st = path.lstat()
            if overlay_upper and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                parent, _, name = rel.rpartition("/")
                wh = (parent + "/" if parent else "") + WHITEOUT_PREFIX + name
                tar.addfile(_fixed(tarfile.TarInfo(wh), tarfile.REGTYPE, 0o644, 0))
                continue
            info = tar.gettarinfo(str(path), arcname=rel)
            if info is None:  # a socket: nothing a layer can carry
                continue
            info.uname = info.gname = ""
            if mtime is not None:
                info.mtime = mtime
            if info.isreg():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if overlay_upper and info.isdir() and _is_opaque(path):
                tar.addfile(
                    _fixed(tarfile.TarInfo(f"{rel}/{OPAQUE_WHITEOUT}"), tarfile.REGTYPE, 0o644, 0)
                )
    tmp.replace(dest)
    return dest


def _is_opaque(path: Path) -> bool:
    for attr in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _walk_sorted(root: Path, excluded: set[str]) -> Iterable[str]:
    """Relative paths under ``root``, parents before children, in byte order."""

    def walk(rel: str) -> Iterable[str]:
        with os.scandir(root / rel if rel else root) as it:
            entries = sorted(it, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            yield child
            if entry.is_dir(follow_symlinks=False) and child not in excluded:
                yield from walk(child)

    return walk("")


# ---------------------------------------------------------------------------------------------
# containerd


def import_archive(
    containerd_socket: Path,
    archive: Path,
    *,
    namespace: str = "k8s.io",
    snapshotter: str = "overlayfs",
    timeout: float = IMPORT_TIMEOUT,
) -> None:
    """Import an OCI archive into a containerd and unpack it for the CRI (timeout 300 s)."""
    ctr = shutil.which("ctr")
    if ctr is None:
        raise EnvironmentProblem("ctr not found: install it with `apt-get install -y containerd`")
    cmd = [
        ctr,
        "--address",
        str(containerd_socket),
        "--namespace",
        namespace,
        "images",
        "import",
        "--no-unpack=false",
        "--snapshotter",
        snapshotter,
        str(archive),
    ]
    started = time.monotonic()
    try:
        subprocess.run(cmd, check=True, timeout=timeout, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise EnvironmentProblem(
            f"importing {archive.name} into {containerd_socket} failed: "
            f"{detail[-1] if detail else f'exit {exc.returncode}'}"
        ) from exc
    log.info(
        "imported %s into %s in %.1f s", archive.name, containerd_socket, time.monotonic() - started
    )
