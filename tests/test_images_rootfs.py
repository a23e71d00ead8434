"""The base rootfs comes from the machine's own apt mirror."""

from __future__ import annotations

from pathlib import Path

from kubelab.images.rootfs import DEFAULT_MIRROR, apt_mirror, trim_rootfs


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n"
    )
    assert apt_mirror(tmp_path) == "http://ftp.example/debian"


def test_mirror_defaults_to_deb_debian_org(tmp_path: Path) -> None:
    assert apt_mirror(tmp_path) == DEFAULT_MIRROR


def test_trim_empties_docs_caches_and_runtime_dirs_and_resets_host_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for rel in (
        "usr/share/doc/pkg",
        "var/cache/apt/archives",
        "tmp/x",
        "usr/lib/python3/__pycache__",
    ):
        (root / rel).mkdir(parents=True)
        (root / rel / "f").write_text("x")
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("buildhost\n")
    (root / "var/cache/debconf").mkdir(parents=True)
    (root / "var/cache/debconf/config.dat-old").write_text("x")
    (root / "usr/lib/python3/keep.py").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/f").write_text("x")
    (root / "run").symlink_to(tmp_path / "outside")  # never followed
    trim_rootfs(root)
    assert list((root / "usr/share/doc").iterdir()) == []
    assert list((root / "var/cache/apt").iterdir()) == []
    assert list((root / "tmp").iterdir()) == []
    assert not (root / "usr/lib/python3/__pycache__").exists()
    assert not (root / "var/cache/debconf/config.dat-old").exists()
    assert (root / "etc/hostname").read_text() == ""
    assert (root / "usr/lib/python3/keep.py").exists()
    assert (tmp_path / "outside/f").exists()
