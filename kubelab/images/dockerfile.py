"""Build an image from app/Dockerfile itself, without Docker: one recipe, no drifting copy.

Only the subset the lab's Dockerfile uses is understood (FROM, ARG, ENV, WORKDIR, COPY, RUN,
USER, EXPOSE, CMD); anything else is a UsageError naming the line. ``FROM python:3.11-slim`` is
served by the local Debian 12 base, whose python3 is 3.11. RUN executes in a chroot over an
overlayfs mount (lower: the base rootfs, upper: the new layer); the upper dir becomes the layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kubelab.errors import EnvironmentProblem, KubelabError, UsageError
from kubelab.images.oci import ImageConfig, prepare_layer, tar_directory, write_archive
from kubelab.images.rootfs import RUNTIME_DIRS, BaseRootfs, run_streaming, say
from kubelab.mounts import umount, unmount_under

SUPPORTED = ("FROM", "ARG", "ENV", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "CMD")
# The one base image we can serve locally, and what serves it.
LOCAL_BASES = {"python:3.11-slim": "the local Debian 12 base (its python3 is 3.11)"}
BASE_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
)
# Set for RUN only: Debian marks its python EXTERNALLY-MANAGED (PEP 668); the slim image does
# not, so `pip install` there works without it.
# SOURCE_DATE_EPOCH makes pip write hash-checked .pyc files instead of mtime-stamped ones, so
# rebuilding the same inputs gives the same layer digest.
RUN_ONLY_ENV = {
    "PIP_BREAK_SYSTEM_PACKAGES": "1",
    "SOURCE_DATE_EPOCH": "0",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}
# Like Docker's predefined proxy ARGs: the host's network settings reach RUN, not the image.
PASSTHROUGH_ENV = frozenset(
    {
        *(v for name in ("http_proxy", "https_proxy", "no_proxy") for v in (name, name.upper())),
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_TRUSTED_HOST",
        "PIP_DEFAULT_TIMEOUT",
    }
)
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
RUN_TIMEOUT = 600.0
# Bump when this builder changes what it produces from the same Dockerfile (cache key part).
BUILDER_VERSION = "2"
MOUNT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its first line number, keyword and raw arguments."""

    line: int
    keyword: str
    args: str


@dataclass(frozen=True)
class Step:
    """An instruction that changes the filesystem, with everything evaluated."""

    instruction: Instruction
    args: list[str]  # WORKDIR: [dir]; COPY: [*sources, dest]; RUN: argv
    env: dict[str, str] = field(default_factory=dict)  # RUN: ARGs and ENVs in scope
    user: str = ""
    workdir: str = "/"


@dataclass
class Plan:
    """A Dockerfile evaluated with its build args: the steps to run and the resulting config."""

    base: str
    steps: list[Step] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    exposed: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    copy_sources: list[str] = field(default_factory=list)

    def image_config(self) -> ImageConfig:
        """The image config these instructions produce."""
        env = dict(e.split("=", 1) for e in BASE_ENV)
        env.update(self.env)
        return ImageConfig(
            env=[f"{k}={v}" for k, v in env.items()],
            cmd=self.cmd,
            working_dir=self.workdir if self.workdir != "/" else "",
            user=self.user,
            exposed_ports=self.exposed,
        )


def parse(text: str, name: str = "Dockerfile") -> list[Instruction]:
    """Split a Dockerfile into instructions (comments, blank lines and continuations handled)."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        joined = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = joined.partition(" ")
        keyword = keyword.upper()
        if keyword not in SUPPORTED:
            raise UsageError(
                f"{name} line {start}: {keyword} is not supported by kubelab's local builder "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        out.append(Instruction(start, keyword, args.strip()))
    if pending:
        raise UsageError(f"{name} line {start}: continuation at end of file")
    return out


_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def substitute(value: str, scope: Mapping[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` from ``scope`` (unset -> empty)."""

    def repl(m: re.Match[str]) -> str:
        var = m.group("braced") or m.group("bare")
        got = scope.get(var, "")
        if not got and m.group("default") is not None:
            return m.group("default")
        return got

    return _VAR.sub(repl, value)


def _json_or_shell(args: str) -> list[str] | None:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except json.JSONDecodeError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return None


def plan(
    instructions: Sequence[Instruction],
    build_args: Mapping[str, str],
    name: str = "Dockerfile",
) -> Plan:
    """Evaluate instructions with ``build_args``: substitutions, config, COPY sources."""
    if not instructions or instructions[0].keyword != "FROM":
        raise UsageError(f"{name}: the first instruction must be FROM")
    first = instructions[0]
    base = first.args.split()[0] if first.args else ""
    if base not in LOCAL_BASES or len(first.args.split()) != 1:
        raise UsageError(
            f"{name} line {first.line}: FROM {first.args}: kubelab's local builder only serves "
            f"{', '.join(LOCAL_BASES)} (nothing can be pulled here)"
        )
    p = Plan(base=base)
    unused = set(build_args)
    for ins in instructions[1:]:
        where = f"{name} line {ins.line}"
        scope = {**p.args, **p.env}
        if ins.keyword == "FROM":
            raise UsageError(f"{where}: multi-stage builds (a second FROM) are not supported")
        if ins.keyword == "ARG":
            for word in shlex.split(ins.args):
                key, has_default, default = word.partition("=")
                unused.discard(key)
                if key in build_args:
                    p.args[key] = build_args[key]
                elif has_default:
                    p.args[key] = substitute(default, scope)
                else:
                    p.args.setdefault(key, "")
        elif ins.keyword == "ENV":
            words = shlex.split(ins.args)
            if words and "=" not in words[0]:
                # Legacy form: ENV KEY value with spaces
                key, _, value = ins.args.partition(" ")
                p.env[key] = substitute(value.strip(), scope)
            else:
                for word in words:
                    key, eq, value = word.partition("=")
                    if not eq:
                        raise UsageError(f"{where}: ENV {word!r} has no '='")
                    p.env[key] = substitute(value, scope)
        elif ins.keyword == "WORKDIR":
            target = substitute(ins.args, scope)
            p.workdir = str(PurePosixPath(p.workdir, target))
            p.steps.append(Step(ins, [p.workdir]))
        elif ins.keyword == "COPY":
            words = _json_or_shell(ins.args) or shlex.split(ins.args)
            if any(w.startswith("--") for w in words):
                raise UsageError(f"{where}: COPY flags ({ins.args}) are not supported")
            if len(words) < 2:
                raise UsageError(f"{where}: COPY needs a source and a destination")
            words = [substitute(w, scope) for w in words]
            *sources, dest = words
            for src in sources:
                if any(ch in src for ch in "*?[") or src.startswith("/") or ".." in Path(src).parts:
                    raise UsageError(
                        f"{where}: COPY source {src!r} must be a plain path in the context"
                    )
            if not dest.startswith("/"):
                dest = str(PurePosixPath(p.workdir, dest)) + ("/" if dest.endswith("/") else "")
            p.copy_sources += sources
            p.steps.append(Step(ins, [*sources, dest]))
        elif ins.keyword == "RUN":
            argv = _json_or_shell(ins.args) or ["/bin/sh", "-c", ins.args]
            p.steps.append(Step(ins, argv, {**p.args, **p.env}, p.user, p.workdir))
        elif ins.keyword == "USER":
            p.user = substitute(ins.args, scope)
        elif ins.keyword == "EXPOSE":
            p.exposed += [substitute(w, scope) for w in ins.args.split()]
        elif ins.keyword == "CMD":
            p.cmd = _json_or_shell(ins.args) or ["/bin/sh", "-c", ins.args]
    if unused:
        raise UsageError(f"{name}: build args {sorted(unused)} are not declared by any ARG")
    return p


def load_plan(context: Path, build_args: Mapping[str, str]) -> Plan:
    """Parse and evaluate ``context/Dockerfile`` with ``build_args``."""
    dockerfile = context / "Dockerfile"
    if not dockerfile.exists():
        raise UsageError(f"{dockerfile} does not exist")
    return plan(parse(dockerfile.read_text(), str(dockerfile)), build_args, str(dockerfile))


def inputs_hash(context: Path, build_args: Mapping[str, str]) -> str:
    """A hash of the Dockerfile, every file it COPYs (path, mode, content) and the build args."""
    h = hashlib.sha256(f"kubelab-builder-{BUILDER_VERSION}\0".encode())
    dockerfile = context / "Dockerfile"
    h.update(dockerfile.read_bytes())
    h.update(json.dumps(dict(sorted(build_args.items()))).encode())
    for src in sorted(set(load_plan(context, build_args).copy_sources)):
        root = context / src
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if not path.exists():
                raise UsageError(f"{dockerfile}: COPY source {src} does not exist in {context}")
            h.update(str(path.relative_to(context)).encode() + b"\0")
            h.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_image(
    context: Path,
    ref: str,
    build_args: Mapping[str, str],
    base: BaseRootfs,
    dest: Path,
    work: Path,
) -> Path:
    """Build ``context/Dockerfile`` into the OCI archive ``dest`` named ``ref`` (RUN timeout 600 s).

    ``work`` is a scratch directory (overlay upper/work/merged), removed afterwards.
    """
    p = load_plan(context, build_args)
    if os.geteuid() != 0:
        raise EnvironmentProblem("building images locally needs root (overlayfs mounts, chroot)")
    say(f"{ref}: FROM {p.base} is served by {LOCAL_BASES[p.base]}")
    started = time.monotonic()
    if work.exists():
        unmount_under(work)
        shutil.rmtree(work)
    upper, ovl_work, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, ovl_work, merged):
        d.mkdir(parents=True)
    try:
        _mount(
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={base.root},upperdir={upper},workdir={ovl_work}",
            str(merged),
        )
        for step in p.steps:
            ins, args = step.instruction, step.args
            what = f"{ref}: line {ins.line}: {ins.keyword} {ins.args}"
            say(what)
            if ins.keyword == "WORKDIR":
                _inside(merged, args[0]).mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "COPY":
                _copy(context, merged, args[:-1], args[-1], multiple=len(args) > 2)
            elif ins.keyword == "RUN":
                _run(merged, step.env, step.user, step.workdir, args, what)
    finally:
        unmount_under(work)
    layer_tar = work / "layer.tar"
    tar_directory(upper, layer_tar, overlay_upper=True, exclude=RUNTIME_DIRS)
    base_layer = prepare_layer(base.layer_tar)
    app_layer = prepare_layer(layer_tar)
    history = [f"kubelab debootstrap base {base.key}", f"{context.name}/Dockerfile {build_args}"]
    write_archive(dest, ref, [base_layer, app_layer], p.image_config(), history=history)
    shutil.rmtree(work)
    say(f"{ref}: built in {time.monotonic() - started:.0f} s -> {dest.name}")
    return dest


def _inside(root: Path, path: str) -> Path:
    rel = PurePosixPath(path)
    if ".." in rel.parts:
        raise UsageError(f"path {path} leaves the image root")
    return root / str(rel).lstrip("/")


def _copy(
    context: Path, merged: Path, sources: Sequence[str], dest: str, *, multiple: bool
) -> None:
    into_dir = dest.endswith("/") or multiple
    target = _inside(merged, dest)
    for src in sources:
        source = context / src
        if not source.exists():
            raise UsageError(f"COPY source {src} does not exist in {context}")
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
            continue
        path = target / source.name if into_dir else target
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, path)
        os.chown(path, 0, 0)


def _run(
    merged: Path, env: Mapping[str, str], user: str, workdir: str, argv: Sequence[str], step: str
) -> None:
    binds: list[Path] = []
    try:
        _mount("-t", "proc", "proc", str(merged / "proc"))
        binds.append(merged / "proc")
        _mount("--bind", "/dev", str(merged / "dev"))
        binds.append(merged / "dev")
        resolv = merged / "etc" / "resolv.conf"
        if not resolv.exists():
            resolv.write_text("")
        # pip reaches PyPI with the host's resolver configuration.
        _mount("--bind", os.path.realpath("/etc/resolv.conf"), str(resolv))
        binds.append(resolv)
        # ... and the host's CA bundle, which may trust an egress proxy the image's does not.
        # Bind-mounted, so it never ends up in the layer.
        host_ca, image_ca = Path(HOST_CA_BUNDLE), merged / HOST_CA_BUNDLE.lstrip("/")
        if host_ca.is_file() and image_ca.is_file():
            _mount("--bind", os.path.realpath(host_ca), str(image_ca))
            binds.append(image_ca)
        passed = {k: v for k, v in os.environ.items() if k in PASSTHROUGH_ENV}
        full_env = dict(e.split("=", 1) for e in BASE_ENV) | passed | dict(env) | RUN_ONLY_ENV
        cmd = ["chroot"]
        if user:
            cmd.append(f"--userspec={user if ':' in user else user + ':0'}")
        cmd += [str(merged), "/usr/bin/env", "-i", "-C", workdir]
        cmd += [f"{k}={v}" for k, v in full_env.items()] + list(argv)
        tail: list[str] = []

        def on_line(line: str) -> None:
            tail.append(line)
            say(f"  | {line}")

        try:
            run_streaming(cmd, timeout=RUN_TIMEOUT, on_line=on_line)
        except subprocess.CalledProcessError as exc:
            raise KubelabError(
                f"{step}: exited with {exc.returncode}: {tail[-1] if tail else ''}"
            ) from exc
    finally:
        for point in reversed(binds):
            umount(point)


def _mount(*args: str) -> None:
    try:
        subprocess.run(
            ["mount", *args], check=True, timeout=MOUNT_TIMEOUT, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        raise EnvironmentProblem(f"mount {' '.join(args)} failed: {exc.stderr.strip()}") from exc
