"""Upstream Kubernetes, and the etcd and CoreDNS kubeadm of the release pins, built (or found
cached) with the Go toolchain from their Go modules."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kubelab import commands, releases
from kubelab.build import go
from kubelab.console import say
from kubelab.errors import EnvironmentProblem
from kubelab.releases import Chosen
from kubelab.waits import BUILD, SHORT

KUBE_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
ALL_BINARIES = (*KUBE_BINARIES, "etcd", "coredns")
# Built only for kind's node image (kubeadm bootstraps its nodes, kubectl applies its add-ons).
KIND_EXTRA_BINARIES = ("kubeadm", "kubectl")

_STAGING_RE = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.M)


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """The staging modules (``k8s.io/X => ./staging/...``) a kubernetes go.mod replaces."""
    return sorted(set(_STAGING_RE.findall(kubernetes_go_mod)))


def version_ldflags(version: str) -> str:
    """-ldflags that make the binaries report ``v<version>`` like a release build."""
    minor = version.split(".")[1]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor=1",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=2026-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def kubernetes_wrapper_go_mod(version: str, staging: list[str], go_directive: str) -> str:
    """go.mod of the wrapper module that builds k8s.io/kubernetes commands at ``version``."""
    minor = version.split(".", 1)[1]
    lines = [
        "module kubelab.local/k8s",
        "",
        f"go {go_directive}",
        "",
        f"require k8s.io/kubernetes v{version}",
        "",
        "replace (",
        *(f"\t{mod} => {mod} v0.{minor}" for mod in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class Binaries:
    """Where the built binaries of one Kubernetes version live."""

    bin_dir: Path

    def path(self, name: str) -> Path:
        """Absolute path of one binary (``kubelet``, ``etcd``, ...)."""
        return self.bin_dir / name


def binary_version(path: Path) -> str:
    """What a built binary says its version is (first line of ``--version``)."""
    args = {
        "coredns": ["-version"],
        "kubeadm": ["version", "-o", "short"],
        "kubectl": ["version", "--client"],
    }.get(path.name, ["--version"])
    out = commands.run([path, *args], timeout=SHORT)
    if path.name == "coredns":  # CoreDNS-1.14.6 / linux/amd64, go1.26, <git commit>
        return " ".join(out.split())
    return out.strip().splitlines()[0] if out.strip() else ""


def coredns_build_id(coredns: str) -> str:
    """CoreDNS's version and a hash of kubelab's wrapper main (its plugin set): a changed plugin
    set rebuilds a cached binary. Stamped into the binary as its git commit."""
    main = resources.files("kubelab.build").joinpath("gomod", "coredns_main.go")
    return f"{coredns}+{hashlib.sha256(main.read_bytes()).hexdigest()[:8]}"


def expected_version(name: str, chosen: Chosen) -> str:
    """The text a built binary's version output must contain."""
    if name == "etcd":
        return chosen.release.etcd
    if name == "coredns":
        return coredns_build_id(chosen.release.coredns)
    return f"v{chosen.version}"


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _is_built(bins: Binaries, name: str, chosen: Chosen, stamps: dict[str, object]) -> bool:
    """The binary exists and reports the expected version (remembered by size+mtime)."""
    path = bins.path(name)
    if not path.is_file():
        return False
    expected = expected_version(name, chosen)
    if stamps.get(name) == [*_stamp(path), expected]:
        return True  # checked before and unchanged since: skip running a 100 MB binary
    try:
        ok = expected in binary_version(path)
    except (commands.CommandFailed, OSError):
        return False
    if ok:
        stamps[name] = [*_stamp(path), expected]
    return ok


def _prepare_kubernetes(root: Path, version: str) -> Path:
    src = root / "src" / "kubernetes"
    if (src / "go.mod").exists():
        return src
    src.mkdir(parents=True, exist_ok=True)
    info = go.run_go(
        ["mod", "download", "-json", f"k8s.io/kubernetes@v{version}"],
        src.parent,
        BUILD,
    )
    gomod_path = json.loads(info).get("GoMod")
    if not gomod_path:
        raise EnvironmentProblem(
            f"go mod download k8s.io/kubernetes@v{version} gave no go.mod: {info[:200]}"
        )
    upstream = Path(gomod_path).read_text()
    go_directive = re.search(r"^go\s+(\S+)", upstream, re.M)
    staging = staging_modules(upstream)
    if not staging:
        raise EnvironmentProblem(f"no staging replaces found in {gomod_path}")
    go.write_module(
        src,
        kubernetes_wrapper_go_mod(
            version, staging, go_directive.group(1) if go_directive else go.WRAPPER_GO
        ),
    )
    return src


def _wrapper(name: str, chosen: Chosen) -> tuple[str, str]:
    """The requirement and -ldflags of the etcd or CoreDNS wrapper module."""
    if name == "etcd":
        return f"go.etcd.io/etcd/server/v3 v{chosen.release.etcd}", "-s -w"
    build_id = coredns_build_id(chosen.release.coredns)
    return (
        f"github.com/coredns/coredns v{chosen.release.coredns}",
        f"-s -w -X github.com/coredns/coredns/coremain.GitCommit=v{build_id}",
    )


def ensure_binaries(
    cache: Path, chosen: Chosen | None = None, extra: tuple[str, ...] = ()
) -> Binaries:
    """Build whatever is missing under cache/k8s/v<version>/bin; a warm cache builds nothing.

    ``extra``: more commands of k8s.io/kubernetes (KIND_EXTRA_BINARIES), e.g. for kind.
    """
    chosen = chosen or releases.choose(None)
    version = chosen.version
    root = cache / "k8s" / f"v{version}"
    bins = Binaries(root / "bin")
    bins.bin_dir.mkdir(parents=True, exist_ok=True)
    stamp_file = bins.bin_dir / ".versions.json"
    try:
        stamps: dict[str, object] = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamps = {}
    wanted = (*ALL_BINARIES, *extra)
    missing = [name for name in wanted if not _is_built(bins, name, chosen, stamps)]
    stamp_file.write_text(json.dumps(stamps))
    what = f"Kubernetes v{version}, etcd {chosen.release.etcd}, CoreDNS {chosen.release.coredns}"
    if not missing:
        say(f"[build] cached: {what} in {bins.bin_dir}")
        return bins
    say(f"[build] building {', '.join(missing)} for {what} into {bins.bin_dir}")
    kube = [name for name in missing if name in KUBE_BINARIES or name in extra]
    if kube:
        src = _prepare_kubernetes(root, version)
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in kube]
        go.build(kube, src, packages, bins.bin_dir, version_ldflags(version))
    for name in ("etcd", "coredns"):
        if name in missing:
            requirement, ldflags = _wrapper(name, chosen)
            src = root / "src" / name
            go.write_module(src, go.wrapper_go_mod(name, requirement), f"{name}_main.go")
            go.build([name], src, ["."], bins.bin_dir, ldflags)
    for name in missing:
        if not _is_built(bins, name, chosen, stamps):
            raise EnvironmentProblem(
                f"{bins.path(name)} was built but does not report version "
                f"{expected_version(name, chosen)}"
            )
    stamp_file.write_text(json.dumps(stamps))
    return bins
