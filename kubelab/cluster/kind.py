"""kind: a multi-node cluster in Docker containers, through pytest-kind."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

from kubelab.cluster.base import Images, Provider, node_command
from kubelab.errors import EnvironmentProblem

log = logging.getLogger(__name__)

# pytest-kind's default (v0.17) cannot create current Kubernetes: pin a modern release.
KIND_VERSION = "v0.30.0"
NODE_IMAGE = "kindest/node:v1.34.0"
WORKERS = 3
REDIS_UPSTREAM = "redis:7"

KIND_CONFIG = (
    """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
"""
    + "  - role: worker\n" * WORKERS
)


def docker_answers() -> bool:
    """A Docker engine answers on this host."""
    if shutil.which("docker") is None:
        return False
    try:
        subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False
    return True


def _run(argv: list[str], timeout: float = 600) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout


class KindProvider(Provider):
    """One control plane and three workers in Docker, images built from app/ and loaded."""

    name = "kind"

    def __init__(
        self, app_dir: Path, work_dir: Path, cluster_name: str = "kubelab", keep: bool = False
    ) -> None:
        self.app_dir = app_dir
        self.work_dir = work_dir
        self.cluster_name = cluster_name
        self.keep = keep
        self._cluster: object | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "kubeconfig"

    def setup(self) -> Images:
        if not docker_answers():
            raise EnvironmentProblem(
                "--cluster=kind needs a Docker engine and none answers (`docker info` failed); "
                "start Docker, or use --cluster=local (Linux, root) or --cluster=existing"
            )
        import pytest_kind.cluster as kind_cluster

        kind_cluster.KIND_VERSION = KIND_VERSION  # read at download time by ensure_kind()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "kind-config.yaml"
        config.write_text(KIND_CONFIG)
        cluster = kind_cluster.KindCluster(
            self.cluster_name,
            kubeconfig=self.kubeconfig,
            image=NODE_IMAGE,
            kind_path=self.work_dir / f"kind-{KIND_VERSION}",
        )
        cluster.create(config_file=config)
        self._cluster = cluster
        images = Images(
            redis=REDIS_UPSTREAM,
            web_v1="kubelab.local/web:1.0",
            web_v2="kubelab.local/web:2.0",
            pull_policy="IfNotPresent",
        )
        for version, ref in (("1.0", images.web_v1), ("2.0", images.web_v2)):
            log.info("building %s from %s", ref, self.app_dir)
            _run(
                [
                    "docker",
                    "build",
                    "-q",
                    "-t",
                    ref,
                    "--build-arg",
                    f"VERSION={version}",
                    str(self.app_dir),
                ]
            )
        _run(["docker", "pull", "-q", REDIS_UPSTREAM])
        for ref in (images.redis, images.web_v1, images.web_v2):
            cluster.load_docker_image(ref)
        return images

    def teardown(self) -> None:
        if self._cluster is not None and not self.keep:
            self._cluster.delete()  # type: ignore[attr-defined]

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        return node_command(node_name, ["docker", "exec", node_name, *argv], timeout)

    def node_containers(self, node_name: str) -> list[str]:
        out = self.run_on_node(node_name, ["crictl", "ps", "-q", "--no-trunc"], timeout=30)
        return out.split()
