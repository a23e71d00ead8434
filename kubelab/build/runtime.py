"""The container runtime every kubelab node runs: containerd 2.x (an LTS line) and runc, built
from their Go modules like Kubernetes. Kubernetes 1.36 ends support for containerd 1.x, the only
line Debian packages."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from kubelab import hostpkgs
from kubelab.build import go
from kubelab.console import say

CONTAINERD_VERSION = "2.3.7"
RUNC_VERSION = "1.4.4"
CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2", "ctr")
# runc's seccomp support links libseccomp statically: Debian's libseccomp-dev has the archive.
RUNC_BUILD_PACKAGES = ("libseccomp-dev", "pkg-config", "gcc", "libc6-dev")


@dataclass(frozen=True)
class Runtime:
    """Where the runtime's binaries live (containerd looks for its shim on PATH: put bin_dir
    first on containerd's PATH)."""

    bin_dir: Path

    def path(self, name: str) -> Path:
        """Absolute path of ``containerd``, ``containerd-shim-runc-v2``, ``ctr`` or ``runc``."""
        return self.bin_dir / name


def runtime_dir(cache: Path) -> Path:
    """The directory the runtime of this kubelab is built into: a new version, or a change to how
    it is built (this module's source), builds anew."""
    recipe = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    name = f"containerd-{CONTAINERD_VERSION}-runc-{RUNC_VERSION}-{recipe}"
    return cache / "runtime" / name / "bin"


def ensure_runtime(cache: Path) -> Runtime:
    """containerd, its runc shim, ctr and runc in the cache; builds what is missing; a warm
    cache builds nothing."""
    runtime = Runtime(runtime_dir(cache))
    runtime.bin_dir.mkdir(parents=True, exist_ok=True)
    src = runtime.bin_dir.parent / "src"
    missing = [n for n in (*CONTAINERD_COMMANDS, "runc") if not runtime.path(n).is_file()]
    if not missing:
        say(
            f"[build] cached: containerd {CONTAINERD_VERSION}, runc {RUNC_VERSION} in {runtime.bin_dir}"
        )
        return runtime
    containerd = [n for n in missing if n in CONTAINERD_COMMANDS]
    if containerd:
        module = "github.com/containerd/containerd/v2"
        go.write_module(
            src / "containerd", go.wrapper_go_mod("containerd", f"{module} v{CONTAINERD_VERSION}")
        )
        ldflags = (
            f"-s -w -X {module}/version.Version=v{CONTAINERD_VERSION} "
            f"-X {module}/version.Revision=kubelab"
        )
        packages = [f"{module}/cmd/{name}" for name in containerd]
        go.build(containerd, src / "containerd", packages, runtime.bin_dir, ldflags)
    if "runc" in missing:
        module = "github.com/opencontainers/runc"
        go.write_module(src / "runc", go.wrapper_go_mod("runc", f"{module} v{RUNC_VERSION}"))
        # runc needs cgo (its nsenter is C) and libseccomp; linked statically so that it runs
        # in any root filesystem (kind's node image) as well as on the host.
        if not list(Path("/usr/lib").glob("*/libseccomp.a")) or shutil.which("pkg-config") is None:
            hostpkgs.install(list(RUNC_BUILD_PACKAGES), "building runc")
        go.build(
            ["runc"],
            src / "runc",
            [module],
            runtime.bin_dir,
            "-s -w -extldflags -static",
            cgo=True,
            tags="seccomp netgo osusergo",
        )
    return runtime
