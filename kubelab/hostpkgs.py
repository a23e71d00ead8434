"""Host programs kubelab needs, installed from Debian's packages when missing (as root)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from kubelab import commands
from kubelab.console import say
from kubelab.errors import EnvironmentProblem
from kubelab.waits import BUILD


def missing(programs: Mapping[str, str]) -> list[str]:
    """The Debian packages providing the programs (name -> package) not on PATH."""
    return sorted({pkg for prog, pkg in programs.items() if shutil.which(prog) is None})


def _is_debian() -> bool:
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return any(word in release for word in ("ID=debian", "ID=ubuntu", "ID_LIKE=debian"))


def install(packages: list[str], purpose: str) -> None:
    """apt-get install ``packages`` (root on Debian/Ubuntu, saying so); elsewhere a one-line error."""
    if not packages:
        return
    command = f"apt-get update && apt-get install -y {' '.join(packages)}"
    if os.geteuid() != 0 or not _is_debian() or shutil.which("apt-get") is None:
        raise EnvironmentProblem(
            f"{purpose} needs {', '.join(packages)}: install them as root ({command})"
        )
    # Progress, apt's included, goes to stderr: stdout carries a command's result (the options
    # `kubelab images push` prints, a kubeconfig path).
    say(f"[hostdeps] installing {' '.join(packages)} for {purpose} with apt-get", sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        # Another apt-get (a parallel run, unattended upgrades) may hold dpkg's lock: wait for it.
        wait = f"DPkg::Lock::Timeout={int(BUILD)}"
        for args in (["update"], ["install", "-y", "--no-install-recommends", *packages]):
            commands.stream(
                ["apt-get", "-o", wait, "-qq", *args],
                timeout=BUILD,
                on_line=lambda line: say(line, sys.stderr),
                env=env,
            )
    except commands.CommandFailed as exc:
        raise EnvironmentProblem(f"{command} failed ({exc}): run it by hand and retry") from None


def ensure_programs(programs: Mapping[str, str], purpose: str) -> None:
    """Install whatever of ``programs`` (name -> package) is missing; fail if still missing."""
    install(missing(programs), purpose)
    still = [prog for prog in programs if shutil.which(prog) is None]
    if still:
        raise EnvironmentProblem(
            f"{purpose}: {', '.join(still)} still missing after installing packages"
        )
