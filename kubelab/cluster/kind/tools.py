"""The kind CLI and crictl, built from their Go modules into kubelab's cache when not on PATH."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from kubelab.cluster.local.build import BUILD_TIMEOUT, _go, _go_env
from kubelab.errors import EnvironmentProblem

KIND_VERSION = "v0.30.0"
KIND_MODULE = "sigs.k8s.io/kind"
CRICTL_VERSION = "v1.34.0"
CRICTL_PACKAGE = "sigs.k8s.io/cri-tools/cmd/crictl"
QUICK_TIMEOUT = 30.0


def go_install(package: str, version: str, bin_dir: Path, name: str) -> Path:
    """``go install package@version`` into ``bin_dir`` unless already there; returns the binary."""
    binary = bin_dir / name
    if binary.is_file():
        return binary
    bin_dir.mkdir(parents=True, exist_ok=True)
    print(f"[kind] building {name} {version} from the Go module {package}", flush=True)
    started = time.monotonic()
    env = _go_env() | {"GOBIN": str(bin_dir.absolute())}
    try:
        subprocess.run(
            [_go(), "install", "-ldflags=-s -w", f"{package}@{version}"],
            check=True,
            timeout=BUILD_TIMEOUT,
            capture_output=True,
            text=True,
            env=env,
            cwd=bin_dir,
        )
    except subprocess.CalledProcessError as exc:
        tail = " ".join((exc.stderr or "").strip().splitlines()[-3:])
        raise EnvironmentProblem(f"go install {package}@{version} failed: {tail}") from None
    print(f"[kind] {name}: built in {time.monotonic() - started:.0f} s", flush=True)
    return binary


def kind_cli(cache: Path) -> Path:
    """The kind CLI: the one on PATH, else kind KIND_VERSION built into the cache (~1 min cold)."""
    found = shutil.which("kind")
    if found:
        return Path(found)
    return go_install(KIND_MODULE, KIND_VERSION, cache / "kind" / KIND_VERSION, "kind")


def kind_module_dir(cache: Path) -> Path:
    """The kind module's source (its base image files), from the Go module cache."""
    proc = subprocess.run(
        [_go(), "mod", "download", "-json", f"{KIND_MODULE}@{KIND_VERSION}"],
        check=True,
        timeout=BUILD_TIMEOUT,
        capture_output=True,
        text=True,
        env=_go_env(),
        cwd=cache,
    )
    import json

    return Path(json.loads(proc.stdout)["Dir"])


def crictl(cache: Path) -> Path:
    """crictl, which kind and the lab use on every node (not packaged in Debian 12)."""
    return go_install(
        CRICTL_PACKAGE, CRICTL_VERSION, cache / "kind" / "crictl" / CRICTL_VERSION, "crictl"
    )
