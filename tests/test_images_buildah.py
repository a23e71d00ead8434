"""The builder: buildah builds a Dockerfile with RUN isolated, exports archives, names errors.

Each test uses its own image store under tmp_path; the images are FROM scratch with a static
probe program (compiled with gcc like the pause image), so no base image is needed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.hostpkgs import ensure_programs
from kubelab.images.buildah import ARCH_LABEL, INPUTS_LABEL, Buildah, BuildError, architecture
from kubelab.waits import wait_until

DATA = Path(__file__).with_name("data")
PROBE = "kubelab.local/nsprobe:1"
NAMESPACES = ("pid", "net", "mnt", "ipc", "uts")


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Buildah:
    """A store holding a FROM-scratch image with the static namespace probe at /nsprobe."""
    ensure_programs({"gcc": "gcc"}, "the builder's tests")
    Buildah.ensure()
    tmp = tmp_path_factory.mktemp("buildah")
    binary = tmp / "nsprobe"
    subprocess.run(
        ["gcc", "-static", "-Os", "-o", str(binary), str(DATA / "nsprobe.c")],
        check=True,
        timeout=120,
    )
    builder = Buildah(tmp / "cache")
    builder.from_scratch(PROBE, [(binary, "/nsprobe")])
    return builder


def context(tmp_path: Path, dockerfile: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def layer_file(archive: Path, name: str) -> bytes:
    """The content of ``name`` in the topmost layer of an OCI archive that has it."""
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest = _blob(tar, index["manifests"][0]["digest"])
        for layer in reversed(manifest["layers"]):
            member = tar.extractfile("blobs/sha256/" + layer["digest"].removeprefix("sha256:"))
            with tarfile.open(fileobj=member) as layer_tar:
                names = layer_tar.getnames()
                if name in names:
                    return layer_tar.extractfile(name).read()  # type: ignore[union-attr]
    raise AssertionError(f"{name} is in no layer of {archive}")


def _blob(tar: tarfile.TarFile, digest: str) -> dict:  # type: ignore[type-arg]
    return json.load(tar.extractfile("blobs/sha256/" + digest.removeprefix("sha256:")))  # type: ignore[arg-type]


def test_run_steps_execute_in_their_own_namespaces_without_network(
    builder: Buildah, tmp_path: Path
) -> None:
    ctx = context(tmp_path, f'FROM {PROBE}\nRUN ["/nsprobe"]\n')
    builder.build(ctx, "kubelab.local/ns:1")
    archive = builder.export("kubelab.local/ns:1", tmp_path / "ns.oci.tar")
    lines = layer_file(archive, "ns.txt").decode().splitlines()
    inside = dict(line.split(" ", 1) for line in lines[: len(NAMESPACES)])
    host = {name: os.readlink(f"/proc/self/ns/{name}") for name in NAMESPACES}
    shared = {name: inside[name] for name in NAMESPACES if inside[name] == host[name]}
    assert not shared, f"RUN shares the host's namespaces {shared}; RUN saw {inside}"
    interfaces = [line.split(":")[0].strip() for line in lines[len(NAMESPACES) + 2 :]]
    assert interfaces == ["lo"], f"RUN has network interfaces {interfaces}, expected only lo"


def test_images_carry_their_architecture_and_inputs(builder: Buildah, tmp_path: Path) -> None:
    ctx = context(tmp_path, f"FROM {PROBE}\nARG V=1\nENV V=${{V}}\n")
    builder.build(ctx, "kubelab.local/arch:1", build_args={"V": "2"})
    assert builder.label("kubelab.local/arch:1", ARCH_LABEL) == architecture()
    assert builder.is_current("kubelab.local/arch:1", builder.inputs(ctx, {"V": "2"}))
    assert not builder.is_current("kubelab.local/arch:1", builder.inputs(ctx, {"V": "3"}))
    with tarfile.open(builder.export("kubelab.local/arch:1", tmp_path / "a.oci.tar")) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        config = _blob(tar, _blob(tar, index["manifests"][0]["digest"])["config"]["digest"])
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == (
        "kubelab.local/arch:1"
    )
    assert config["architecture"] == architecture()
    assert config["config"]["Env"][-1] == "V=2"
    assert INPUTS_LABEL in config["config"]["Labels"]


def test_docker_archive_names_its_tag(builder: Buildah, tmp_path: Path) -> None:
    archive = builder.export(PROBE, tmp_path / "probe.docker.tar", "docker-archive")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [PROBE]


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        (f"FROM {PROBE}\nFOO bar\n", 'line 2 (FOO bar): Build error: Unknown instruction: "FOO"'),
        (f"FROM {PROBE}\nCOPY nothere /x\n", "line 2 (COPY nothere /x): checking on sources"),
        (f'FROM {PROBE}\nENV A=1\nRUN ["/nope"]\n', 'line 3 (RUN ["/nope"]):'),
        ("FROM kubelab.local/absent:1\n", "kubelab.local/absent:1: image not known"),
    ],
)
def test_a_dockerfile_error_names_line_and_instruction(
    builder: Buildah, tmp_path: Path, dockerfile: str, expected: str
) -> None:
    ctx = context(tmp_path, dockerfile)
    with pytest.raises(BuildError) as error:
        builder.build(ctx, "kubelab.local/bad:1")
    message = str(error.value)
    assert message.startswith(str(ctx / "Dockerfile")), message
    assert expected in message, message
    assert "\n" not in message, message


def test_an_interrupted_build_leaves_nothing_running(builder: Buildah, tmp_path: Path) -> None:
    ctx = context(tmp_path, f'FROM {PROBE}\nRUN ["/nsprobe", "sleep"]\n')
    script = (
        "import signal, sys; from pathlib import Path; from kubelab.images.buildah import Buildah\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        f"Buildah(Path({str(builder.root.parents[1])!r})).build(Path({str(ctx)!r}), 'kubelab.local/i:1')\n"
    )
    build = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert build.stderr is not None
    for line in build.stderr:
        if "STEP 2/" in line:
            break
    wait_until(sleeping, bool, timeout=30, what="the RUN step sleeping", interval=0.2)
    build.send_signal(signal.SIGINT)
    build.communicate(timeout=60)
    containers = subprocess.run(
        builder.command("containers", "--all", "--quiet"),
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout.split()
    mounts = [
        line
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if str(builder.root) in line
    ]
    # Python ends an uncaught KeyboardInterrupt by dying of SIGINT.
    assert (build.returncode, sleeping(), containers, mounts) == (-signal.SIGINT, [], [], [])


def sleeping() -> list[str]:
    """Pids of the probe sleeping in a RUN step."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes() == b"/nsprobe\0sleep\0":
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_a_registry_that_does_not_answer_is_one_line(builder: Buildah) -> None:
    with pytest.raises(EnvironmentProblem) as error:
        builder.push(PROBE, "127.0.0.1:9/nsprobe:1", tls_verify=False)
    assert str(error.value) == (
        "registry 127.0.0.1:9 does not answer (connection refused); "
        "is it running and serving plain HTTP?"
    )


@contextmanager
def registry(tmp_path: Path, *, readonly: bool) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port, plain HTTP; yields HOST:PORT."""
    ensure_programs({"docker-registry": "docker-registry"}, "the builder's tests")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    maintenance = ", maintenance: {readonly: {enabled: true}}" if readonly else ""
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp_path / 'data'}}}{maintenance}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: requests.get(f"http://{address}/v2/", timeout=2).status_code,
            lambda status: status == 200,
            timeout=30,
            what=f"docker-registry on {address}",
        )
        yield address
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_push_lands_in_the_registry(builder: Buildah, tmp_path: Path) -> None:
    with registry(tmp_path, readonly=False) as address:
        builder.push(PROBE, f"{address}/nsprobe:1", tls_verify=False)
        tags = requests.get(f"http://{address}/v2/nsprobe/tags/list", timeout=5).json()
    assert tags == {"name": "nsprobe", "tags": ["1"]}


def test_a_refused_push_is_one_line(builder: Buildah, tmp_path: Path) -> None:
    with registry(tmp_path, readonly=True) as address, pytest.raises(EnvironmentProblem) as error:
        builder.push(PROBE, f"{address}/nsprobe:1", tls_verify=False)
    message = str(error.value)
    assert message.startswith(f"pushing {PROBE} to {address}/nsprobe:1 failed with exit"), message
    assert ("405" in message, "\n" in message) == (True, False), message


def test_a_plain_http_registry_asked_for_https_says_so(builder: Buildah, tmp_path: Path) -> None:
    with registry(tmp_path, readonly=True) as address, pytest.raises(EnvironmentProblem) as error:
        builder.push(PROBE, f"{address}/nsprobe:1", tls_verify=True)
    assert str(error.value) == f"registry {address} serves plain HTTP, not HTTPS: pass --plain-http"


def test_an_unknown_archive_format_is_refused(builder: Buildah, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not one of oci-archive, docker-archive"):
        builder.export(PROBE, tmp_path / "x.tar", "zip")
