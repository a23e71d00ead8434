"""The binary cache of the local provider: a warm cache builds nothing (no Go needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelab.cluster.local import build
from kubelab.errors import EnvironmentProblem


def _fake_binaries(bin_dir: Path, version: str) -> None:
    bin_dir.mkdir(parents=True)
    for name in build.ALL_BINARIES:
        said = {
            "etcd": f"etcd Version: {build.ETCD_VERSION}",
            "coredns": f"CoreDNS-{build.COREDNS_VERSION}\nlinux/amd64, go1.26, v{build.coredns_build_id()}",
        }
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\necho '{said.get(name, f'Kubernetes v{version}')}'\n")
        path.chmod(0o755)


def test_warm_cache_builds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_binaries(tmp_path / "k8s" / "v1.34.4" / "bin", "1.34.4")

    def no_go(*args: object, **kwargs: object) -> str:
        raise AssertionError("go must not run for a warm cache")

    monkeypatch.setattr(build, "_run_go", no_go)
    bins = build.ensure_binaries(tmp_path, "1.34.4")
    assert bins.path("kubelet") == tmp_path / "k8s" / "v1.34.4" / "bin" / "kubelet"
    # second call: answered from the version stamps without running the binaries
    monkeypatch.setattr(build, "binary_version", no_go)
    build.ensure_binaries(tmp_path, "v1.34.4")


def _rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, says: str, *names: str
) -> tuple[dict[str, str], list[list[str]]]:
    """ensure_binaries over a warm cache whose ``names`` say ``says``: what it built with which
    ldflags, and the names of each ``go build`` call."""
    bin_dir = tmp_path / "k8s" / "v1.34.4" / "bin"
    _fake_binaries(bin_dir, "1.34.4")
    for name in names:
        (bin_dir / name).write_text(f"#!/bin/sh\n{says}\n")
    built: dict[str, str] = {}
    calls: list[list[str]] = []

    def fake_build(
        names: list[str], src: Path, packages: list[str], out: Path, ldflags: str
    ) -> float:
        calls.append(names)
        for name in names:
            built[name] = ldflags
            said = build._expected_version(name, "1.34.4")
            (out / name).write_text(f"#!/bin/sh\necho '{said}'\n")
        return 0.0

    monkeypatch.setattr(build, "_build", fake_build)
    monkeypatch.setattr(build, "_prepare_kubernetes", lambda root, version: root / "src")
    build.ensure_binaries(tmp_path, "1.34.4")
    return built, calls


def test_a_binary_of_another_version_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _rebuilt(tmp_path, monkeypatch, "echo 'Kubernetes v1.33.0'", "kubelet")
    assert calls == [["kubelet"]]


def test_the_kubernetes_binaries_are_built_in_one_go_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = _rebuilt(tmp_path, monkeypatch, "exit 1", "kube-proxy", "kubelet", "etcd")
    assert calls == [["kubelet", "kube-proxy"], ["etcd"]]


def test_a_coredns_of_another_plugin_set_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # built from an older coredns_main.go: right version, other plugins
    said = f"echo 'CoreDNS-{build.COREDNS_VERSION}'; echo 'linux/amd64, go1.26, v1.15.0'"
    built, calls = _rebuilt(tmp_path, monkeypatch, said, "coredns")
    assert calls == [["coredns"]]
    assert f"GitCommit=v{build.coredns_build_id()}" in built["coredns"]


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
    assert build.go_version(text) == expected


def test_a_go_older_than_the_go_mod_asks_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module kubelab.local/x\n\ngo 99.0.0\n")
    with pytest.raises(EnvironmentProblem) as err:
        build.check_go(tmp_path, "coredns")  # the real toolchain of this machine
    assert str(err.value).startswith("building coredns needs Go 99.0.0 or newer (its go.mod says")
    assert "\n" not in str(err.value)


def test_the_go_of_this_machine_builds_what_kubelab_builds(tmp_path: Path) -> None:
    for required in (build.ETCD_GO, build.COREDNS_GO):
        (tmp_path / "go.mod").write_text(f"module kubelab.local/x\n\ngo {required}\n")
        build.check_go(tmp_path, "x")
