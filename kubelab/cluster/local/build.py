"""Build (or find cached) upstream Kubernetes, etcd and CoreDNS binaries with the Go toolchain."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kubelab.errors import EnvironmentProblem, UsageError

DEFAULT_K8S_VERSION = "1.34.4"
# Only releases whose whole lab has run here are offered (1.32 and 1.33 never were built).
SUPPORTED_MINORS = (34,)
ETCD_VERSION = "3.5.24"
COREDNS_VERSION = "1.15.0"
# The go directives of the wrapper modules (Kubernetes' own comes from its go.mod): the
# toolchain must be at least as new, since GOTOOLCHAIN=local never downloads another.
ETCD_GO = "1.24"
COREDNS_GO = "1.26.0"

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

BUILD_TIMEOUT = 3600.0  # one binary, cold, on 2 cores: up to ~15 min; leave room
QUICK_TIMEOUT = 30.0
DOWNLOAD_TIMEOUT = 900.0

_VERSION_RE = re.compile(r"^v?1\.(\d+)\.(\d+)$")
_STAGING_RE = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.M)


def normalize_version(version: str) -> str:
    """Return ``1.Y.Z`` for ``v1.Y.Z``/``1.Y.Z`` with Y in SUPPORTED_MINORS; UsageError otherwise."""
    match = _VERSION_RE.match(version.strip())
    if not match or int(match.group(1)) not in SUPPORTED_MINORS:
        offered = " or ".join(f"1.{minor}.x" for minor in SUPPORTED_MINORS)
        raise UsageError(
            f"--k8s-version {version!r} is not offered: give {offered}, e.g. {DEFAULT_K8S_VERSION} "
            "(only releases whose whole lab has run are)"
        )
    return f"1.{match.group(1)}.{match.group(2)}"


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


def _go() -> str:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        newest = max((ETCD_GO, COREDNS_GO), key=go_version)
        raise EnvironmentProblem(
            f"the Go toolchain (go{newest} or newer) is needed to build Kubernetes, etcd and "
            "CoreDNS: install it from https://go.dev/dl/"
        )
    return go


def go_version(text: str) -> tuple[int, ...]:
    """(1, 26, 0) for ``go1.26``, ``1.26.0`` or ``go1.26rc1``; for comparing Go releases."""
    numbers = re.match(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not numbers:
        raise ValueError(f"not a Go version: {text!r}")
    return tuple(int(n or 0) for n in numbers.groups())


def check_go(src: Path, name: str) -> None:
    """The Go toolchain is at least what ``src/go.mod`` requires; else one line naming both."""
    wanted = re.search(r"^go\s+(\S+)", (src / "go.mod").read_text(), re.M)
    if wanted is None:
        return
    have = _run_go(["env", "GOVERSION"], src, QUICK_TIMEOUT).strip()
    if go_version(have) < go_version(wanted.group(1)):
        raise EnvironmentProblem(
            f"building {name} needs Go {wanted.group(1)} or newer (its go.mod says so) and "
            f"{_go()} is {have}: install a newer Go from https://go.dev/dl/"
        )


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false", "GOTOOLCHAIN": "local"})
    return env


def _run_go(args: list[str], cwd: Path, timeout: float) -> str:
    proc = subprocess.run(
        [_go(), *args],
        cwd=cwd,
        env=_go_env(),
        check=True,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    return proc.stdout


def binary_version(path: Path) -> str:
    """What a built binary says its version is (first line of ``--version``)."""
    args = {
        "coredns": ["-version"],
        "kubeadm": ["version", "-o", "short"],
        "kubectl": ["version", "--client"],
    }.get(path.name, ["--version"])
    out = subprocess.run(
        [str(path), *args], check=True, timeout=QUICK_TIMEOUT, capture_output=True, text=True
    ).stdout
    if path.name == "coredns":  # CoreDNS-1.15.0 / linux/amd64, go1.26, <git commit>
        return " ".join(out.split())
    return out.strip().splitlines()[0] if out.strip() else ""


def coredns_build_id() -> str:
    """CoreDNS's version and a hash of kubelab's wrapper main (its plugin set): a changed plugin
    set rebuilds a cached binary. Stamped into the binary as its git commit."""
    main = resources.files("kubelab.cluster.local").joinpath("gomod", "coredns_main.go")
    return f"{COREDNS_VERSION}+{hashlib.sha256(main.read_bytes()).hexdigest()[:8]}"


def _expected_version(name: str, version: str) -> str:
    if name == "etcd":
        return ETCD_VERSION
    if name == "coredns":
        return coredns_build_id()
    return f"v{version}"


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _is_built(bins: Binaries, name: str, version: str, stamps: dict[str, object]) -> bool:
    """The binary exists and reports the expected version (remembered by size+mtime)."""
    path = bins.path(name)
    if not path.is_file():
        return False
    expected = _expected_version(name, version)
    if stamps.get(name) == [*_stamp(path), expected]:
        return True  # checked before and unchanged since: skip running a 100 MB binary
    try:
        ok = expected in binary_version(path)
    except (subprocess.SubprocessError, OSError):
        return False
    if ok:
        stamps[name] = [*_stamp(path), expected]
    return ok


def _write_wrapper(src: Path, go_mod: str, main_file: str | None) -> None:
    src.mkdir(parents=True, exist_ok=True)
    gomod = src / "go.mod"
    if not gomod.exists() or gomod.read_text() != go_mod:
        gomod.write_text(go_mod)
    if main_file is not None:
        text = resources.files("kubelab.cluster.local").joinpath("gomod", main_file).read_text()
        (src / "main.go").write_text(text)


def _prepare_kubernetes(root: Path, version: str) -> Path:
    src = root / "src" / "kubernetes"
    if (src / "go.mod").exists():
        return src
    src.mkdir(parents=True, exist_ok=True)
    info = _run_go(
        ["mod", "download", "-json", f"k8s.io/kubernetes@v{version}"], src.parent, DOWNLOAD_TIMEOUT
    )
    gomod_path = re.search(r'"GoMod":\s*"([^"]+)"', info)
    if not gomod_path:
        raise EnvironmentProblem(
            f"go mod download k8s.io/kubernetes@v{version} gave no go.mod: {info[:200]}"
        )
    upstream = Path(gomod_path.group(1)).read_text()
    go_directive = re.search(r"^go\s+(\S+)", upstream, re.M)
    staging = staging_modules(upstream)
    if not staging:
        raise EnvironmentProblem(f"no staging replaces found in {gomod_path.group(1)}")
    _write_wrapper(
        src,
        kubernetes_wrapper_go_mod(
            version, staging, go_directive.group(1) if go_directive else "1.24"
        ),
        None,
    )
    return src


def _build(names: list[str], src: Path, packages: list[str], bin_dir: Path, ldflags: str) -> float:
    """One ``go build`` of ``packages`` (main packages named like ``names``) into ``bin_dir``.

    One invocation for several commands loads the package graph once and links them side by
    side: the five Kubernetes binaries over a warm Go cache took 12 s, against 29 s one by one.
    """
    what = ", ".join(names)
    check_go(src, what)
    started = time.monotonic()
    print(f"[build] {what}: compiling (cold builds take minutes)", flush=True)
    tmp = bin_dir / ".build"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _run_go(["build", "-ldflags", ldflags, "-o", f"{tmp}/", *packages], src, BUILD_TIMEOUT)
        for name in names:
            (tmp / name).replace(bin_dir / name)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or "").strip().splitlines()[-15:])
        raise EnvironmentProblem(f"go build of {what} failed: {tail}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    print(f"[build] {what}: done in {elapsed:.0f}s", flush=True)
    return elapsed


def ensure_binaries(
    cache: Path, version: str = DEFAULT_K8S_VERSION, extra: tuple[str, ...] = ()
) -> Binaries:
    """Build whatever is missing under cache/k8s/v<version>/bin; a warm cache builds nothing.

    ``extra``: more commands of k8s.io/kubernetes (KIND_EXTRA_BINARIES), e.g. for kind.
    """
    version = normalize_version(version)
    root = cache / "k8s" / f"v{version}"
    bins = Binaries(root / "bin")
    bins.bin_dir.mkdir(parents=True, exist_ok=True)
    stamp_file = bins.bin_dir / ".versions.json"
    try:
        stamps: dict[str, object] = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamps = {}
    wanted = (*ALL_BINARIES, *extra)
    missing = [name for name in wanted if not _is_built(bins, name, version, stamps)]
    stamp_file.write_text(json.dumps(stamps))
    if not missing:
        print(
            f"[build] cached: Kubernetes v{version}, etcd {ETCD_VERSION}, CoreDNS {COREDNS_VERSION} in {bins.bin_dir}",
            flush=True,
        )
        return bins
    print(
        f"[build] building {', '.join(missing)} for Kubernetes v{version} into {bins.bin_dir}",
        flush=True,
    )
    kube = [name for name in missing if name in KUBE_BINARIES or name in extra]
    if kube:
        src = _prepare_kubernetes(root, version)
        packages = [f"k8s.io/kubernetes/cmd/{name}" for name in kube]
        _build(kube, src, packages, bins.bin_dir, version_ldflags(version))
    # etcd and CoreDNS: a wrapper module requiring the release, its main from kubelab
    wrappers = {
        "etcd": (f"go.etcd.io/etcd/server/v3 v{ETCD_VERSION}", ETCD_GO, "-s -w"),
        "coredns": (
            f"github.com/coredns/coredns v{COREDNS_VERSION}",
            COREDNS_GO,
            f"-s -w -X github.com/coredns/coredns/coremain.GitCommit=v{coredns_build_id()}",
        ),
    }
    for name, (requirement, go, ldflags) in wrappers.items():
        if name in missing:
            src = root / "src" / name
            go_mod = f"module kubelab.local/{name}\n\ngo {go}\n\nrequire {requirement}\n"
            _write_wrapper(src, go_mod, f"{name}_main.go")
            _build([name], src, ["."], bins.bin_dir, ldflags)
    for name in missing:
        if not _is_built(bins, name, version, stamps):
            raise EnvironmentProblem(
                f"{bins.path(name)} was built but does not report version {_expected_version(name, version)}"
            )
    stamp_file.write_text(json.dumps(stamps))
    return bins
