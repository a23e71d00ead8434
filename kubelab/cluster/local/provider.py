"""The local provider: kubelab's own cluster of network-namespace nodes (see kubelab.cluster.local)."""

from __future__ import annotations

from pathlib import Path

from kubelab.cluster.base import Provider, node_command
from kubelab.cluster.local.cluster import LocalCluster
from kubelab.images import Images
from kubelab.images.lab import lab_images_for_nodes
from kubelab.paths import cache_dir


class LocalProvider(Provider):
    """Reuses a running local cluster, else brings one up and takes it down after the run."""

    name = "local"

    def __init__(
        self,
        app_dir: Path,
        workers: int,
        k8s_version: str | None,
        proxy_mode: str | None = None,
        keep: bool = False,
    ) -> None:
        self.cluster = LocalCluster(workers=workers, k8s_version=k8s_version, proxy_mode=proxy_mode)
        self.app_dir = app_dir
        self.keep = keep
        self._started_here = False

    @property
    def kubeconfig(self) -> Path:
        return Path(self.cluster.kubeconfig)

    def setup(self) -> Images:
        # A running cluster is reused only when it has the workers and version asked for.
        self._started_here = self.cluster.up()
        images, archives = lab_images_for_nodes(self.app_dir, cache_dir())
        for archive in archives.values():
            self.cluster.import_image(archive)
        return images

    def teardown(self) -> None:
        if self._started_here and not self.keep:
            self.cluster.down()

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        return node_command(node_name, self.cluster.node_argv(node_name, argv), timeout)

    def node_containers(self, node_name: str) -> list[str]:
        return list(self.cluster.node_containers(node_name))

    def logs_hint(self) -> str:
        return f"local cluster logs: {self.cluster.log_dir}"
