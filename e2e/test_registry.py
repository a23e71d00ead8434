"""The existing-cluster path through a real registry, end to end (``tox -e registry``).

Debian's docker-registry (the distribution registry) is started on the local cluster's bridge
address; every node's containerd may pull from that address over plain HTTP (that address
only); ``kubelab images push`` puts the lab's images there; the whole lab then runs with
``--cluster=existing`` and the registry's image names, nothing imported: every node pulls.
Boots a fresh local cluster (root, Linux) and removes it, and the registry, at the end.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kubernetes import client, config

from kubelab import commands, hostpkgs
from kubelab.cluster.local import LocalCluster
from kubelab.cluster.local.hostdeps import check_platform
from kubelab.cluster.local.plan import GATEWAY
from kubelab.errors import EnvironmentProblem
from kubelab.waits import wait_until
from tests.cli import kubelab_cli

ROOT = Path(__file__).resolve().parents[1]
LAB_TIMEOUT = 900


@dataclass(frozen=True)
class Registry:
    address: str  # HOST:PORT
    log: Path


@pytest.fixture(scope="module")
def local_cluster() -> Iterator[LocalCluster]:
    """A local cluster booted for this test: only the pause image is on its nodes."""
    try:
        check_platform()
    except EnvironmentProblem as exc:  # one line, no traceback: what it needs and what to run
        pytest.fail(f"{exc}; without root, run `tox -e lint,type,unit,lab,lab-kind`", False)
    cluster = LocalCluster()
    if cluster.is_running():
        pytest.fail("a local cluster is up: this test boots its own (`kubelab local down` first)")
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
def registry(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """docker-registry on the bridge address, trusted over plain HTTP by every node."""
    cluster = local_cluster
    hostpkgs.ensure_programs({"docker-registry": "docker-registry"}, "the registry test")
    tmp = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:  # a free port on the bridge address
        s.bind((GATEWAY, 0))
        address = f"{GATEWAY}:{s.getsockname()[1]}"
    config = tmp / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: info, accesslog: {disabled: false}}\n"
        f"storage: {{filesystem: {{rootdirectory: {tmp / 'data'}}}}}\n"
        f"http: {{addr: '{address}'}}\n"
    )
    log = tmp / "registry.log"
    server = commands.spawn(["docker-registry", "serve", str(config)], output=log)
    try:
        wait_until(
            lambda: _answers(address),
            bool,
            timeout=30,
            interval=0.2,
            what=f"docker-registry answering on http://{address}/v2/",
        )
        cluster.trust_plain_http_registry(address)
        yield Registry(address, log)
    finally:
        cluster.forget_registry(address)
        commands.kill_group(server, whole_group=True)


def _answers(address: str) -> bool:
    try:
        return requests.get(f"http://{address}/v2/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass(frozen=True)
class LabRun:
    """A lab run's exit status and its output and errors, as they came."""

    status: int
    output: str


def run_lab(cluster: LocalCluster, log: Path, *args: str) -> LabRun:
    """The lab on ``cluster`` as an existing cluster, its output and errors into ``log``."""
    argv = [
        *(sys.executable, "-m", "pytest", "steps", "-p", "no:cacheprovider", "-v"),
        *("--cluster=existing", f"--kubeconfig={cluster.kubeconfig}"),
        *args,
    ]
    with log.open("w") as out:
        status = commands.run_child(argv, timeout=LAB_TIMEOUT, cwd=ROOT, stdout=out)
    return LabRun(status, log.read_text())


def pull_events(cluster: LocalCluster, address: str) -> list[str]:
    """The kubelets' Pulling/Pulled events for images of the registry, oldest first."""
    api = client.CoreV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
    events = [
        e
        for e in api.list_event_for_all_namespaces().items
        if e.reason in ("Pulling", "Pulled") and address in (e.message or "")
    ]
    events.sort(key=lambda e: e.first_timestamp or e.event_time or e.metadata.creation_timestamp)
    return [
        f"{e.source.host or e.reporting_instance}: {e.involved_object.namespace}/"
        f"{e.involved_object.name} {e.reason}: {e.message}"
        for e in events
    ]


def closing_line(output: str) -> str:
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return lines[-1] if lines else output[-2000:]


@pytest.fixture(scope="module")
def pushed(registry: Registry) -> list[str]:
    """`kubelab images push` to the registry: the lab options it prints, split."""
    result = kubelab_cli("images", "push", registry.address, "--plain-http", timeout=900)
    assert result.returncode == 0, result.stderr
    print(f"kubelab images push {registry.address} --plain-http\n{result.stdout}", end="")
    return result.stdout.split()


def test_the_whole_lab_passes_with_every_node_pulling_from_the_registry(
    local_cluster: LocalCluster, registry: Registry, pushed: list[str], tmp_path: Path
) -> None:
    cluster = local_cluster
    images = pushed[1::2]
    workers = [n.name for n in cluster.nodes() if not n.control_plane]
    before = {w: [i for i in cluster.node_images(w) if i in images] for w in workers}
    assert before == {w: [] for w in workers}, f"images already on the nodes: {before}"
    result = run_lab(
        cluster,
        tmp_path / "lab.log",
        *pushed,
        "--keep-namespace=always",
        f"--reports-dir={tmp_path / 'reports'}",
    )
    print("\n".join(result.output.splitlines()[-3:]))
    assert result.status == 0, closing_line(result.output)
    for line in pull_events(cluster, registry.address):
        print(line)
    pulled = {w: sorted(set(cluster.node_images(w)) & set(images)) for w in workers}
    print(f"images on each worker after the run: {pulled}")
    assert all(pulled[w] for w in workers), f"a worker pulled nothing: {pulled}"
    gets = re.findall(r'"GET /v2/[^ ]+/manifests/[^ ]+', registry.log.read_text())
    print(f"registry manifest requests: {len(gets)}")


def test_an_image_missing_from_the_registry_fails_the_step_at_once(
    local_cluster: LocalCluster, registry: Registry, pushed: list[str], tmp_path: Path
) -> None:
    cluster = local_cluster
    missing = f"{registry.address}/web:missing"
    options = [*pushed]
    options[options.index("--web-image") + 1] = missing
    started = time.monotonic()
    result = run_lab(
        cluster,
        tmp_path / "lab.log",
        *options,
        "-m",
        "pods",
        "-x",
        f"--reports-dir={tmp_path / 'reports'}",
    )
    elapsed = time.monotonic() - started
    output = result.output
    found = re.search(
        rf"image {re.escape(missing)} of pod web cannot be found on node \S+ \(\w+", output
    )
    assert result.status != 0, closing_line(output)
    assert found, closing_line(output)
    print(f"{found.group(0)}...) after {elapsed:.0f} s")
    assert "ErrImagePull" in found.group(0) or "ImagePullBackOff" in found.group(0)
    assert elapsed < 120, f"the missing image was reported after {elapsed:.0f} s"
