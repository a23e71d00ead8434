"""Host prerequisites of the local cluster: Linux, root, and the Debian packages it runs on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from kubelab.errors import EnvironmentProblem

APT_TIMEOUT = 900.0
CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")

# program -> Debian package that provides it
PROGRAMS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "mount": "mount",
    "gcc": "gcc",  # the pause image is a static C program built on the host
}


def missing_packages() -> list[str]:
    """Debian packages to install so that every program and CNI plugin kubelab runs exists."""
    pkgs = [pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None]
    if any(not (CNI_DIR / plugin).exists() for plugin in CNI_PLUGINS):
        pkgs.append("containernetworking-plugins")
    if not list(Path("/usr/lib").glob("*/libc.a")) and not Path("/usr/lib/libc.a").exists():
        pkgs.append("libc6-dev")  # static glibc for the pause binary
    return sorted(set(pkgs))


def check_platform() -> None:
    """Raise EnvironmentProblem unless this is Linux and we are root."""
    if not sys.platform.startswith("linux"):
        raise EnvironmentProblem(
            f"the local cluster needs Linux (this is {sys.platform}): use --cluster=kind"
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "the local cluster needs root (network namespaces, mounts, cgroups): run as root"
        )


def _is_debian() -> bool:
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        return False
    return any(word in release for word in ("ID=debian", "ID=ubuntu", "ID_LIKE=debian"))


def ensure_host_packages() -> None:
    """Install missing host packages with apt (Debian/Ubuntu as root); else say the command."""
    check_platform()
    pkgs = missing_packages()
    if not pkgs:
        return
    command = f"apt-get update && apt-get install -y {' '.join(pkgs)}"
    if not _is_debian() or shutil.which("apt-get") is None:
        raise EnvironmentProblem(
            f"missing host packages {', '.join(pkgs)}: install them (on Debian: {command})"
        )
    print(f"[hostdeps] installing {' '.join(pkgs)} with apt-get", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update"], check=True, timeout=APT_TIMEOUT, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *pkgs],
            check=True,
            timeout=APT_TIMEOUT,
            env=env,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{command} failed ({exc}): run it by hand and retry") from None
    still = missing_packages()
    if still:
        raise EnvironmentProblem(f"still missing after apt-get install: {', '.join(still)}")
