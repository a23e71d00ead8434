"""The Go toolchain, as every kubelab build uses it: one place that finds ``go``, sets its
environment, runs it, and builds a set of commands into a directory."""

from __future__ import annotations

import os
import re
import shutil
import time
from importlib import resources
from pathlib import Path

from kubelab import commands
from kubelab.console import say
from kubelab.errors import EnvironmentProblem
from kubelab.waits import BUILD, COLD

# The one newer toolchain the Go module proxy serves here: taken when a module's go.mod asks for
# a newer Go than the machine's (the go command downloads it like a module).
NEWER_TOOLCHAIN = "go1.27.3"
# The go directive of the wrapper modules kubelab writes to build another module's commands (each
# required module's own go.mod may ask for more: the build then takes NEWER_TOOLCHAIN and says so,
# see run_go_any_toolchain).
WRAPPER_GO = "1.24"
# What go says when a module needs a newer Go than GOTOOLCHAIN=local has.
_NEEDS_NEWER_GO = re.compile(r"requires go >= (\S+) \(running go")


def wrapper_go_mod(name: str, requirement: str) -> str:
    """The go.mod of ``kubelab.local/NAME``, a module that requires ``requirement`` (``PATH
    vVERSION``) to build that module's commands."""
    return f"module kubelab.local/{name}\n\ngo {WRAPPER_GO}\n\nrequire {requirement}\n"


def go() -> str:
    """The ``go`` command; EnvironmentProblem naming where to get it when there is none."""
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if found is None:
        raise EnvironmentProblem(
            "the Go toolchain is needed to build Kubernetes, etcd, CoreDNS, containerd and runc: "
            "install it from https://go.dev/dl/"
        )
    return found


def go_version(text: str) -> tuple[int, ...]:
    """(1, 26, 0) for ``go1.26``, ``1.26.0`` or ``go1.26rc1``; for comparing Go releases."""
    numbers = re.match(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not numbers:
        raise ValueError(f"not a Go version: {text!r}")
    return tuple(int(n or 0) for n in numbers.groups())


def go_env(*, cgo: bool = False, toolchain: str = "local") -> dict[str, str]:
    """The environment of a kubelab build: static (no cgo) unless asked, modules resolved as
    the wrapper's go.mod says, no VCS stamping, and the toolchain named (``local``: this one)."""
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "1" if cgo else "0",
            "GOFLAGS": "-mod=mod -buildvcs=false",
            "GOTOOLCHAIN": toolchain,
        }
    )
    return env


def run_go(
    args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None, what: str = ""
) -> str:
    """Run ``go args`` in ``cwd``; its stdout (CommandFailed, naming ``what`` and carrying its
    stderr, on failure)."""
    return commands.run(
        [go(), *args],
        timeout=timeout,
        what=what or f"go {args[0]}",
        cwd=cwd,
        env=env or go_env(),
        detail=_go_errors,
    )


def _go_errors(stderr: str) -> str:
    """Go's last 15 lines of errors, one line (a compile error names file, line and cause)."""
    return commands.last_lines(stderr, 15)


def write_module(src: Path, go_mod: str, main_file: str | None = None) -> None:
    """A wrapper module in ``src``: its go.mod (rewritten only when changed) and, if named, a
    main.go from kubelab's ``build/gomod`` files."""
    src.mkdir(parents=True, exist_ok=True)
    gomod = src / "go.mod"
    if not gomod.exists() or gomod.read_text() != go_mod:
        gomod.write_text(go_mod)
    if main_file is not None:
        text = resources.files("kubelab.build").joinpath("gomod", main_file).read_text()
        (src / "main.go").write_text(text)


def run_go_any_toolchain(
    args: list[str], cwd: Path, env: dict[str, str], name: str, what: str
) -> None:
    """Run ``go args`` (COLD) with the machine's Go, and again with NEWER_TOOLCHAIN when
    the module asks for a newer Go than the machine's (``name``: what is built, for the line
    that says so); CommandFailed naming ``what`` otherwise."""
    try:
        run_go(args, cwd, COLD, env, what)
    except commands.CommandFailed as exc:
        newer = _NEEDS_NEWER_GO.search(exc.stderr)
        if newer is None or go_version(newer.group(1)) > go_version(NEWER_TOOLCHAIN):
            raise
        say(f"[build] {name} needs Go {newer.group(1)}: building with {NEWER_TOOLCHAIN}")
        run_go(args, cwd, COLD, env | {"GOTOOLCHAIN": NEWER_TOOLCHAIN}, what)


def build(
    names: list[str],
    src: Path,
    packages: list[str],
    bin_dir: Path,
    ldflags: str,
    *,
    cgo: bool = False,
    tags: str = "",
) -> float:
    """One ``go build`` of ``packages`` (main packages named like ``names``) into ``bin_dir``;
    the seconds it took. One invocation for several commands loads the package graph once."""
    what = ", ".join(names)
    started = time.monotonic()
    say(f"[build] {what}: compiling (cold builds take minutes)")
    tmp = bin_dir / ".build"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    args = ["build", "-ldflags", ldflags, *(["-tags", tags] if tags else []), "-o", f"{tmp}/"]
    try:
        run_go_any_toolchain([*args, *packages], src, go_env(cgo=cgo), what, f"go build of {what}")
        for name in names:
            (tmp / name).replace(bin_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    say(f"[build] {what}: done in {elapsed:.0f}s")
    return elapsed


def go_install(package: str, version: str, bin_dir: Path, name: str) -> Path:
    """``go install package@version`` into ``bin_dir`` unless already there; the binary."""
    binary = bin_dir / name
    if binary.is_file():
        return binary
    bin_dir.mkdir(parents=True, exist_ok=True)
    say(f"[build] {name} {version}: go install {package}")
    started = time.monotonic()
    env = go_env() | {"GOBIN": str(bin_dir.absolute())}
    argv = ["install", "-ldflags=-s -w", f"{package}@{version}"]
    run_go_any_toolchain(argv, bin_dir, env, f"{name} {version}", f"go install {package}@{version}")
    say(f"[build] {name}: built in {time.monotonic() - started:.0f} s")
    return binary


def module_dir(module: str, version: str, cwd: Path) -> Path:
    """The source directory of ``module@version`` in Go's module cache (downloaded if needed)."""
    import json

    cwd.mkdir(parents=True, exist_ok=True)
    out = run_go(["mod", "download", "-json", f"{module}@{version}"], cwd, BUILD)
    return Path(json.loads(out)["Dir"])
