"""The local provider: kubelab's own cluster of network-namespace nodes (see kubelab.cluster.local)."""

from __future__ import annotations

from pathlib import Path

from kubelab.cluster.base import Images, Provider, node_command


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
        from kubelab.cluster.local import LocalCluster

        self.cluster = LocalCluster(workers=workers, k8s_version=k8s_version, proxy_mode=proxy_mode)
        self.app_dir = app_dir
        self.keep = keep
        self._started_here = False

    @property
    def kubeconfig(self) -> Path:
        return Path(self.cluster.kubeconfig)

    def setup(self) -> Images:
        from kubelab.images import lab as lab_images
        from kubelab.paths import cache_dir

        # A running cluster is reused only when it has the workers and version asked for.
        self._started_here = self.cluster.up()
        archives = lab_images.export_lab_images(self.app_dir, cache_dir())
        for archive in archives.values():
            self.cluster.import_image(archive)
        return Images(
            redis=lab_images.REDIS,
            web_v1=lab_images.WEB_V1,
            web_v2=lab_images.WEB_V2,
            pull_policy="Never",
        )

    def teardown(self) -> None:
        if self._started_here and not self.keep:
            self.cluster.down()

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        return node_command(node_name, self.cluster.node_argv(node_name, argv), timeout)

    def node_containers(self, node_name: str) -> list[str]:
        return list(self.cluster.node_containers(node_name))

    def logs_hint(self) -> str:
        return f"local cluster logs: {self.cluster.log_dir}"
