"""An existing cluster (a Vagrant one, or any kubeconfig): kubelab only uses it."""

from __future__ import annotations

from pathlib import Path

from kubelab.cluster.base import Provider
from kubelab.images import Images


class ExistingCluster(Provider):
    """Any reachable cluster; images come from a registry its nodes can pull from."""

    name = "existing"

    def __init__(self, kubeconfig: Path, images: Images) -> None:
        self._kubeconfig = kubeconfig
        self.images = images

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    def setup(self) -> Images:
        return self.images

    def teardown(self) -> None:
        """Nothing to do: the cluster is not ours."""
