"""Host prerequisites of the local cluster: Linux, root, and the Debian packages it runs on."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from kubelab import hostpkgs
from kubelab.errors import EnvironmentProblem

CNI_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "portmap", "loopback")

# program -> Debian package that provides it
PROGRAMS = {
    "iptables": "iptables",
    "nft": "nftables",  # kube-proxy's nftables mode runs it
    "conntrack": "conntrack",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "mount": "mount",
    "gcc": "gcc",  # the pause image is a static C program built on the host
    "curl": "curl",  # the seed's "curl the pod from its node", run inside the node's netns
}


def missing_packages() -> list[str]:
    """Debian packages to install so that every program and CNI plugin kubelab runs exists."""
    pkgs = [pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None]
    if any(not (CNI_DIR / plugin).exists() for plugin in CNI_PLUGINS):
        pkgs.append("containernetworking-plugins")
    if not list(Path("/usr/lib").glob("*/libc.a")) and not Path("/usr/lib/libc.a").exists():
        pkgs.append("libc6-dev")  # static glibc for the pause binary
    return sorted(set(pkgs))


def cgroup_v2() -> bool:
    """The host mounts the unified cgroup v2 hierarchy at /sys/fs/cgroup (not v1 or hybrid)."""
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


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


def ensure_host_packages() -> None:
    """Install missing host packages with apt (Debian/Ubuntu as root); else say the command."""
    check_platform()
    hostpkgs.install(missing_packages(), "the local cluster")
    still = missing_packages()
    if still:
        raise EnvironmentProblem(f"still missing after apt-get install: {', '.join(still)}")
