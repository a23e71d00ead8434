"""The Debian 12 base root filesystem shared by the redis and web images (debootstrap, cached)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubelab import commands, console, hostpkgs
from kubelab.errors import EnvironmentProblem
from kubelab.mounts import unmount_under
from kubelab.waits import BUILD, LONG

SUITE = "bookworm"
# The python3 that SUITE ships: the web image's wheels are fetched for it.
PYTHON_VERSION = "3.11"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What the images need on top of minbase: the web app's python and pip (the Dockerfile's
# `pip install` and `useradd`), redis for the redis image, CA certificates so pip reaches PyPI.
PACKAGES = ("python3", "python3-pip", "python3-venv", "redis-server", "ca-certificates")
# Removed after debootstrap: nothing in the images reads them and they are a third of the size.
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/linda",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/man",
    "var/log",
)
# Mount points a runtime provides: their contents are left out of the layer.
RUNTIME_DIRS = ("dev", "proc", "sys", "run", "tmp")
# Left out of the layer too: Debian's PEP 668 marker, which would refuse the Dockerfile's
# `pip install` (python:3.11-slim, the Dockerfile's base on a laptop, has none).
LAYER_EXCLUDES = ("usr/lib/python3*/EXTERNALLY-MANAGED",)


def say(message: str) -> None:
    """Print one progress line (image builds take tens of seconds; the user should see why)."""
    # On stderr: `kubelab images build` prints the built refs and `kubelab images push` the
    # pytest options on stdout, for a script or a shell's $(...) to take.
    console.say(f"kubelab images: {message}", sys.stderr)


@dataclass(frozen=True)
class BaseRootfs:
    """A built base root filesystem: its directory and the hash of its recipe."""

    root: Path
    key: str


def base_recipe_key() -> str:
    """A hash of everything that decides the base's content: suite, packages, trimming, and
    this module's source (how it is made: a change to the recipe makes a new base without
    anyone remembering to say so)."""
    recipe = {
        "suite": SUITE,
        "variant": "minbase",
        "packages": sorted(PACKAGES),
        "trim": sorted(TRIM),
        "runtime_dirs": sorted(RUNTIME_DIRS),
        "recipe": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line format), else deb.debian.org."""
    candidates: list[Path] = []
    if (sources_dir / "sources.list").exists():
        candidates.append(sources_dir / "sources.list")
    list_d = sources_dir / "sources.list.d"
    if list_d.is_dir():
        candidates += sorted(list_d.glob("*.sources")) + sorted(list_d.glob("*.list"))
    for path in candidates:
        text = path.read_text(errors="replace")
        mirror = _deb822_mirror(text) if path.suffix == ".sources" else _one_line_mirror(text)
        if mirror:
            return mirror
    return DEFAULT_MIRROR


def _deb822_mirror(text: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields = _deb822(stanza)
        suites = fields.get("suites", "").split()
        if "deb" in fields.get("types", "").split() and SUITE in suites:
            for uri in fields.get("uris", "").split():
                if "security" not in uri:
                    return uri.rstrip("/")
    return None


def _one_line_mirror(text: str) -> str | None:
    for line in text.splitlines():
        parts = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
        if (
            len(parts) >= 4
            and parts[0] == "deb"
            and parts[2] == SUITE
            and "security" not in parts[1]
        ):
            return parts[1].rstrip("/")
    return None


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line.startswith("#") or ":" not in line or line[:1].isspace():
            continue
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    return fields


def ensure_debootstrap() -> str:
    """Path of debootstrap, installing it with apt-get when missing (root on Debian only)."""
    hostpkgs.ensure_programs({"debootstrap": "debootstrap"}, "building the lab's images")
    return str(shutil.which("debootstrap"))


def build_base_rootfs(cache_dir: Path) -> BaseRootfs:
    """Debootstrap (or reuse) the trimmed Debian 12 base and its layer tar (timeout 900 s)."""
    key = base_recipe_key()
    work = cache_dir / "images" / f"base-{key}"
    root = work / "rootfs"
    done = work / "done"
    if done.exists():
        return BaseRootfs(root, key)
    if os.geteuid() != 0:
        raise EnvironmentProblem("building the base image needs root (debootstrap)")
    debootstrap = ensure_debootstrap()
    mirror = apt_mirror()
    if work.exists():
        unmount_under(work)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    debs = (cache_dir / "images" / "debs").absolute()
    debs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say(f"debootstrap {SUITE} minbase + {', '.join(PACKAGES)} from {mirror} (about a minute)")
    counts = {"Retrieving": 0, "Unpacking": 0, "Configuring": 0}

    def on_line(line: str) -> None:
        for verb in counts:
            if line.startswith(f"I: {verb} "):
                counts[verb] += 1
                if counts[verb] % 40 == 0:
                    elapsed = time.monotonic() - started
                    say(f"  {verb.lower()} packages: {counts[verb]} so far ({elapsed:.0f} s)")
                return
        if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting")):
            return
        say(f"  {line} ({time.monotonic() - started:.0f} s)")

    try:
        commands.stream(
            [
                debootstrap,
                "--variant=minbase",
                # Keeps the downloaded .debs: a recipe change does not download them again.
                f"--cache-dir={debs}",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                mirror,
            ],
            timeout=BUILD,
            on_line=on_line,
            log_file=work / "debootstrap.log",
        )
    finally:
        unmount_under(root)
    say(
        f"debootstrap done in {time.monotonic() - started:.0f} s "
        f"({counts['Retrieving']} downloads, {counts['Configuring']} packages configured)"
    )
    trim_rootfs(root)
    done.write_text(f"{time.monotonic() - started:.1f}\n")
    say(f"base rootfs ready in {time.monotonic() - started:.0f} s")
    return BaseRootfs(root, key)


def write_layer_tar(root: Path, dest: Path) -> Path:
    """Tar the root filesystem as an image layer (numeric owners, xattrs; runtime dirs empty)."""
    excludes = [f"--exclude=./{d}/*" for d in RUNTIME_DIRS]
    excludes += [f"--exclude=./{pattern}" for pattern in LAYER_EXCLUDES]
    commands.run(
        ["tar", "-C", root, "--numeric-owner", "--xattrs", *excludes, "-cf", dest, "."],
        timeout=LONG,
    )
    return dest


def _empty_dir(target: Path) -> None:
    """Remove what a directory holds (not following symlinks); nothing if it is no directory."""
    if not target.is_dir():
        return
    for child in target.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def trim_rootfs(root: Path) -> None:
    """Remove docs, man pages, locales, apt lists and caches; reset host-specific files."""
    for rel in TRIM:
        _empty_dir(root / rel)
    for rel in ("tmp", "run"):
        if rel in RUNTIME_DIRS and not (root / rel).is_symlink():
            _empty_dir(root / rel)
    for old in (root / "var/cache/debconf").glob("*-old"):
        old.unlink()
    for pycache in (root / "usr").rglob("__pycache__"):
        shutil.rmtree(pycache, ignore_errors=True)
    # debootstrap copies the build host's files here; a runtime provides its own.
    for rel in ("etc/hostname", "etc/resolv.conf", "etc/machine-id"):
        target = root / rel
        if target.exists() or target.is_symlink():
            target.unlink()
            target.write_text("")
