"""OCI archives: valid layout, digests that match their content, same inputs give same bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kubelab.images.oci import (
    ImageConfig,
    prepare_layer,
    tar_directory,
    write_archive,
)

REF = "kubelab.local/test:1.0"


def _layer_tar(
    tmp_path: Path, name: str, files: dict[str, bytes], mtime: float | None = None
) -> Path:
    root = tmp_path / f"{name}-root"
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    return tar_directory(root, tmp_path / f"{name}.tar")


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        out = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            out[m.name] = f.read() if f else b""
        return out


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    base = prepare_layer(_layer_tar(tmp_path, "base", {"etc/hello": b"hi\n"}))
    app = prepare_layer(_layer_tar(tmp_path, "app", {"app/x.py": b"print(1)\n"}), compress=False)
    config = ImageConfig(
        env=("PATH=/usr/bin", "A=b"),
        cmd=["python3", "x.py"],
        working_dir="/app",
        user="10001",
        exposed_ports=["5000"],
        labels={"k": "v"},
    )
    dest = tmp_path / "img.oci.tar"
    write_archive(dest, REF, [base, app], config)
    return dest


def test_layout_has_index_with_full_ref_annotations(archive: Path) -> None:
    members = _members(archive)
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(members["index.json"])
    (entry,) = index["manifests"]
    assert entry["annotations"] == {
        "org.opencontainers.image.ref.name": REF,
        "io.containerd.image.name": REF,
    }


def test_every_blob_matches_its_digest_and_size(archive: Path) -> None:
    members = _members(archive)
    blobs = {
        "sha256:" + n.rsplit("/", 1)[1]: d
        for n, d in members.items()
        if n.startswith("blobs/sha256/") and d
    }
    for digest, data in blobs.items():
        assert _sha(data) == digest
    entry = json.loads(members["index.json"])["manifests"][0]
    manifest = json.loads(blobs[entry["digest"]])
    assert entry["size"] == len(blobs[entry["digest"]])
    config_blob = blobs[manifest["config"]["digest"]]
    assert manifest["config"]["size"] == len(config_blob)
    config = json.loads(config_blob)
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["config"]["ExposedPorts"] == {"5000/tcp": {}}
    assert config["config"]["User"] == "10001"
    assert config["config"]["WorkingDir"] == "/app"
    diff_ids = []
    for layer in manifest["layers"]:
        data = blobs[layer["digest"]]
        assert layer["size"] == len(data)
        if layer["mediaType"].endswith("+gzip"):
            data = gzip.decompress(data)
        diff_ids.append(_sha(data))
    assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}
    assert [m["mediaType"].rsplit(".", 1)[-1] for m in manifest["layers"]] == ["tar+gzip", "tar"]


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    digests = []
    for attempt, mtime in (("a", 12345.0), ("b", 99999.0)):
        work = tmp_path / attempt
        work.mkdir()
        files = {"bin/tool": b"\x7fELF", "etc/z": b"z"}
        layer = prepare_layer(_layer_tar(work, "l", files, mtime))
        dest = work / "img.tar"
        digest = write_archive(dest, REF, [layer], ImageConfig(cmd=["tool"]))
        digests.append((digest, hashlib.sha256(dest.read_bytes()).hexdigest()))
    assert digests[0] == digests[1]


def test_refuses_a_short_ref(tmp_path: Path) -> None:
    layer = prepare_layer(_layer_tar(tmp_path, "l", {"a": b"a"}))
    with pytest.raises(Exception, match="full name"):
        write_archive(tmp_path / "x.tar", "web", [layer], ImageConfig())


def test_overlay_whiteouts_become_oci_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "new").write_text("n")
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (upper / "var" / "cache").mkdir(parents=True)
    try:
        os.setxattr(upper / "var" / "cache", "trusted.overlay.opaque", b"y")
    except OSError:
        pytest.fail("setting trusted.* xattrs needs root: run the unit tests as root")
    dest = tar_directory(upper, tmp_path / "layer.tar", overlay_upper=True)
    with tarfile.open(dest) as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert "etc/gone" not in names
    assert names["etc/.wh.gone"].isreg()
    assert names["etc/.wh.gone"].size == 0
    assert names["var/cache/.wh..wh..opq"].isreg()
    assert names["etc/new"].isreg()


def test_layer_tar_is_sorted_with_fixed_mtimes_and_no_owner_names(tmp_path: Path) -> None:
    dest = _layer_tar(tmp_path, "l", {"b/2": b"2", "a/1": b"1", "B": b"B"})
    with tarfile.open(dest) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["B", "a", "a/1", "b", "b/2"]
    assert {m.mtime for m in members} == {0}
    assert {(m.uname, m.gname) for m in members} == {("", "")}
