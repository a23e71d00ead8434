"""The binary cache: a warm cache builds nothing (no Go needed); a stale binary is rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from kubelab import releases
from kubelab.build import go, kubernetes, runtime
from kubelab.errors import EnvironmentProblem
from kubelab.images import rootfs

CHOSEN = releases.choose("1.37")
VERSION = CHOSEN.version


def _fake_binaries(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True)
    for name in kubernetes.ALL_BINARIES:
        said = {
            "etcd": f"etcd Version: {CHOSEN.release.etcd}",
            "coredns": f"CoreDNS-{CHOSEN.release.coredns}\nlinux/amd64, go1.26, "
            f"v{kubernetes.coredns_build_id(CHOSEN.release.coredns)}",
        }
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\necho '{said.get(name, f'Kubernetes v{VERSION}')}'\n")
        path.chmod(0o755)


def _no_go(*args: object, **kwargs: object) -> str:
    raise AssertionError("go must not run for a warm cache")


def test_warm_cache_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_binaries(tmp_path / "k8s" / f"v{VERSION}" / "bin")
    monkeypatch.setattr(go, "run_go", _no_go)
    bins = kubernetes.ensure_binaries(tmp_path, CHOSEN)
    assert bins.path("kubelet") == tmp_path / "k8s" / f"v{VERSION}" / "bin" / "kubelet"
    # second call: answered from the version stamps without running the binaries
    monkeypatch.setattr(kubernetes, "binary_version", _no_go)
    kubernetes.ensure_binaries(tmp_path, CHOSEN)


def _rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, says: str, *names: str
) -> tuple[dict[str, str], list[list[str]]]:
    """ensure_binaries over a warm cache whose ``names`` say ``says``: what it built with which
    ldflags, and the names of each ``go build`` call."""
    bin_dir = tmp_path / "k8s" / f"v{VERSION}" / "bin"
    _fake_binaries(bin_dir)
    for name in names:
        (bin_dir / name).write_text(f"#!/bin/sh\n{says}\n")
    built: dict[str, str] = {}
    calls: list[list[str]] = []

    def fake_build(
        names: list[str], src: Path, packages: list[str], out: Path, ldflags: str, **_: object
    ) -> float:
        calls.append(names)
        for name in names:
            built[name] = ldflags
            said = kubernetes.expected_version(name, CHOSEN)
            (out / name).write_text(f"#!/bin/sh\necho '{said}'\n")
        return 0.0

    monkeypatch.setattr(go, "build", fake_build)
    monkeypatch.setattr(kubernetes, "_prepare_kubernetes", lambda root, version: root / "src")
    kubernetes.ensure_binaries(tmp_path, CHOSEN)
    return built, calls


def test_a_binary_of_another_version_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _rebuilt(tmp_path, monkeypatch, "echo 'Kubernetes v1.36.3'", "kubelet")
    assert calls == [["kubelet"]]


def test_the_kubernetes_binaries_are_built_in_one_go_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _rebuilt(tmp_path, monkeypatch, "exit 1", "kube-proxy", "kubelet", "etcd")
    assert calls == [["kubelet", "kube-proxy"], ["etcd"]]


def test_etcd_of_another_release_is_rebuilt_at_the_pinned_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _rebuilt(tmp_path, monkeypatch, "echo 'etcd Version: 3.6.8'", "etcd")
    assert calls == [["etcd"]]
    go_mod = (tmp_path / "k8s" / f"v{VERSION}" / "src" / "etcd" / "go.mod").read_text()
    assert f"require go.etcd.io/etcd/server/v3 v{CHOSEN.release.etcd}" in go_mod


def test_a_coredns_of_another_plugin_set_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # built from an older coredns_main.go: right version, other plugins
    said = f"echo 'CoreDNS-{CHOSEN.release.coredns}'; echo 'linux/amd64, go1.26, v1.15.0'"
    built, calls = _rebuilt(tmp_path, monkeypatch, said, "coredns")
    assert calls == [["coredns"]]
    assert f"GitCommit=v{kubernetes.coredns_build_id(CHOSEN.release.coredns)}" in built["coredns"]


def test_a_warm_runtime_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = runtime.runtime_dir(tmp_path)
    bin_dir.mkdir(parents=True)
    for name in (*runtime.CONTAINERD_COMMANDS, "runc"):
        (bin_dir / name).write_text("")
    monkeypatch.setattr(go, "run_go", _no_go)
    assert runtime.ensure_runtime(tmp_path).path("runc") == bin_dir / "runc"


def test_runc_is_built_static_with_cgo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = runtime.runtime_dir(tmp_path)
    bin_dir.mkdir(parents=True)
    for name in runtime.CONTAINERD_COMMANDS:
        (bin_dir / name).write_text("")
    seen: list[tuple[list[str], str, dict[str, object]]] = []

    def fake_build(
        names: list[str], src: Path, packages: list[str], out: Path, ldflags: str, **kw: object
    ) -> float:
        seen.append((names, ldflags, kw))
        return 0.0

    monkeypatch.setattr(go, "build", fake_build)
    runtime.ensure_runtime(tmp_path)
    assert seen == [
        (["runc"], "-s -w -extldflags -static", {"cgo": True, "tags": "seccomp netgo osusergo"})
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("go1.26.8", (1, 26, 8)),
        ("1.26.0", (1, 26, 0)),
        ("1.24", (1, 24, 0)),
        ("go1.27rc1", (1, 27, 0)),
    ],
)
def test_go_versions_compare_as_releases(text: str, expected: tuple[int, ...]) -> None:
    assert go.go_version(text) == expected


def _fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A ``go`` that runs ``script`` (sh) and writes each call's GOTOOLCHAIN to ``toolchains``."""
    fake = tmp_path / "go"
    fake.write_text(f'#!/bin/sh\necho "$GOTOOLCHAIN" >> {tmp_path / "toolchains"}\n{script}\n')
    fake.chmod(0o755)
    monkeypatch.setattr(go, "go", lambda: str(fake))
    return tmp_path / "toolchains"


def test_a_module_needing_a_newer_go_is_built_with_the_newer_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    toolchains = _fake_go(
        tmp_path,
        monkeypatch,
        'if [ "$GOTOOLCHAIN" = local ]; then\n'
        "  echo 'go: go.mod requires go >= 1.27.1 (running go 1.26.8; GOTOOLCHAIN=local)' >&2\n"
        "  exit 1\n"
        f"fi\n: > {out}/.build/x",
    )
    out.mkdir()
    go.build(["x"], tmp_path, ["."], out, "-s -w")
    assert toolchains.read_text().split() == ["local", go.NEWER_TOOLCHAIN]
    assert (out / "x").exists()


def test_a_go_install_needing_a_newer_go_is_built_with_the_newer_toolchain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kind and crictl are `go install`ed: the same fallback as the Kubernetes build.
    toolchains = _fake_go(
        tmp_path,
        monkeypatch,
        'if [ "$GOTOOLCHAIN" = local ]; then\n'
        "  echo 'go: sigs.k8s.io/kind@v0.34.0 requires go >= 1.27.1 (running go 1.26.8; "
        "GOTOOLCHAIN=local)' >&2\n"
        "  exit 1\n"
        'fi\n: > "$GOBIN/kind"',
    )
    kind = go.go_install("sigs.k8s.io/kind", "v0.34.0", tmp_path / "bin", "kind")
    assert toolchains.read_text().split() == ["local", go.NEWER_TOOLCHAIN]
    assert kind == tmp_path / "bin" / "kind"
    assert kind.exists()


def test_a_go_newer_than_any_toolchain_here_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_go(
        tmp_path,
        monkeypatch,
        "echo 'go: go.mod requires go >= 99.0 (running go 1.26.8; GOTOOLCHAIN=local)' >&2; exit 1",
    )
    with pytest.raises(EnvironmentProblem) as err:
        go.build(["coredns"], tmp_path, ["."], tmp_path, "-s -w")
    assert str(err.value) == (
        "go build of coredns failed with exit 1: "
        "go: go.mod requires go >= 99.0 (running go 1.26.8; GOTOOLCHAIN=local)"
    )


def test_every_wrapper_module_has_one_go_directive_and_requires_one_module() -> None:
    assert go.wrapper_go_mod("runc", "github.com/opencontainers/runc v1.4.4") == (
        "module kubelab.local/runc\n\ngo 1.24\n\nrequire github.com/opencontainers/runc v1.4.4\n"
    )


@pytest.mark.parametrize(
    ("module", "key", "edit"),
    [
        (runtime, lambda: runtime.runtime_dir(Path("/cache")), (b"-static", b"-s")),
        (rootfs, rootfs.base_recipe_key, (b"--variant=minbase", b"--variant=buildd")),
    ],
    ids=["runtime", "base-rootfs"],
)
def test_a_change_to_a_recipe_makes_its_cache_anew(
    module: ModuleType,
    key: Callable[[], object],
    edit: tuple[bytes, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """How a thing is built (its module's source) is in its cache's key: nobody has to remember
    to bump a number."""
    recipe = tmp_path / "recipe.py"
    recipe.write_bytes(Path(module.__file__ or "").read_bytes())
    monkeypatch.setattr(module, "__file__", str(recipe))
    before = key()
    assert key() == before
    assert edit[0] in recipe.read_bytes()
    recipe.write_bytes(recipe.read_bytes().replace(*edit))
    assert key() != before
