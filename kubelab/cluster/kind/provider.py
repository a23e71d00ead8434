"""The kind provider: a kind cluster through pytest-kind, with the lab's images loaded."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from kubelab import commands, diagnostics, releases
from kubelab.client import Kube
from kubelab.cluster.base import Provider, node_command
from kubelab.cluster.kind.config import kind_config, offline_corefile
from kubelab.cluster.kind.engine import DockerEngine
from kubelab.cluster.kind.nodelogs import entrypoint_lines, followed_node_logs
from kubelab.cluster.kind.nodes import network_exists, remove_network, reuse_or_refuse
from kubelab.console import say
from kubelab.errors import EnvironmentProblem, WaitTimeout
from kubelab.images import Images
from kubelab.images.lab import lab_images_for_nodes
from kubelab.names import CLUSTER_NAME, WEB_V1_IMAGE, WEB_V2_IMAGE
from kubelab.namespace import LabNamespace
from kubelab.paths import cache_dir
from kubelab.states import is_ready, not_ready_reason, rollout_status
from kubelab.waits import BUILD, LONG, SHORT, wait_until

log = logging.getLogger(__name__)

REDIS_UPSTREAM = "redis:7"


class KindProvider(Provider):
    """A kind cluster (one control plane, ``workers`` workers) with the lab's images loaded;
    one already there at the release asked for is reused and left in place at the end."""

    name = "kind"

    def __init__(
        self,
        app_dir: Path,
        work_dir: Path,
        workers: int = 3,
        k8s_version: str | None = None,
        proxy_mode: str | None = None,
        kubeconfig: Path | None = None,
        cluster_name: str = CLUSTER_NAME,
        keep: bool = False,
    ) -> None:
        self.app_dir = app_dir
        self.work_dir = work_dir
        self.workers = workers
        self.release = releases.choose(k8s_version)
        self.proxy_mode = releases.choose_proxy_mode(proxy_mode)
        self._kubeconfig = kubeconfig or work_dir / "kubeconfig"
        self.cluster_name = cluster_name
        self.keep = keep
        self.engine = DockerEngine()
        self._cluster: object | None = None
        self._kind_path = Path("kind")
        self._network_before = True
        self._ready = False
        self._found = False  # the cluster was there before this run: the run leaves it there

    @property
    def kubeconfig(self) -> Path:
        return self._kubeconfig

    @property
    def offline(self) -> bool:
        """kubelab runs the Docker engine: nothing can be pulled, everything is built here."""
        return self.engine.kubelabs() is not None

    def setup(self) -> Images:
        import pytest_kind.cluster as kind_cluster

        from kubelab.cluster.kind import tools

        self.engine.ensure()
        cache = cache_dir()
        kind_path = self._kind_path = tools.kind_cli(cache)
        kind_cluster.KIND_VERSION = tools.KIND_VERSION  # only used for a download, which is skipped
        cgroup_v1 = self.engine.cgroup_version() == "1"
        if cgroup_v1:
            say(
                "[kind] the Docker engine's cgroups are v1: the kubelets run with "
                "failCgroupV1: false (Kubernetes 1.35+ refuses v1 otherwise)",
            )
        if self.offline:
            from kubelab.cluster.kind.nodeimage import ensure_node_image

            node = ensure_node_image(cache, self.release)
            image = node.ref
            config = kind_config(
                self.workers, node.etcd_tag, node.coredns_tag, self.proxy_mode, cgroup_v1
            )
        else:
            image = self.release.kindest_node()  # refuses a patch kind has no image of
            config = kind_config(self.workers, proxy_mode=self.proxy_mode, cgroup_v1=cgroup_v1)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        config_file = self.work_dir / "kind-config.yaml"
        config_file.write_text(config)
        # pytest-kind reuses any cluster of the name as it is (one kept by --keep-cluster): a
        # run reuses only one of the release and kube-proxy mode it asks for, never another
        # silently, and leaves it in place at its end, as the local provider does with a cluster
        # it did not boot.
        self._found = reuse_or_refuse(self.cluster_name, image, self.proxy_mode, kind_path)
        cluster = kind_cluster.KindCluster(
            self.cluster_name, kubeconfig=self._kubeconfig, image=image, kind_path=kind_path
        )
        self._network_before = self._kind_network_exists()
        self._cluster = cluster
        if self._found:
            say(f"[kind] reusing cluster {self.cluster_name} ({image}): this run did not create it")
        else:
            say(
                f"[kind] creating cluster {self.cluster_name}: 1 control plane, {self.workers} workers, {image}",
            )
        started = time.monotonic()
        self._create(cluster, config_file)
        self._wait_nodes_ready()
        how = "reused" if self._found else "created"
        say(f"[kind] cluster {how}, nodes Ready in {time.monotonic() - started:.0f} s")
        started = time.monotonic()
        if self.offline:
            self._offline_dns()
            images = self._load_built_images(cluster)
        else:
            images = self._load_upstream_images(cluster)
        say(
            f"[kind] DNS and the lab's images ready in {time.monotonic() - started:.0f} s",
        )
        self._ready = True
        return images

    # -- setup helpers ---------------------------------------------------------------------
    def _create(self, cluster: object, config_file: Path) -> None:
        """``kind create cluster`` through pytest-kind, each node's own output followed into
        diagnostics/nodes (kind deletes the nodes of a failed creation, their logs with them);
        a failure is one line naming where that output is and the iptables mode each node chose.
        """
        logs = self.work_dir / "diagnostics" / "nodes"
        shutil.rmtree(logs, ignore_errors=True)
        try:
            with followed_node_logs(self.cluster_name, logs):
                cluster.create(config_file=config_file)  # type: ignore[attr-defined]
        # pytest-kind runs `kind create cluster` with subprocess.run(check=True) itself: this is
        # its exception, not kubelab.commands' (which raises CommandFailed).
        except subprocess.CalledProcessError:
            modes = [
                f"{f.stem}: {'; '.join(m for m in entrypoint_lines(f) if 'iptables' in m) or 'no iptables mode logged'}"
                for f in sorted(logs.glob("*.log"))
            ]
            raise EnvironmentProblem(
                f"kind create cluster {self.cluster_name} failed (its output is above; each "
                f"node's own output: {logs}; {' | '.join(modes) or 'no node output'})"
            ) from None

    @property
    def control_plane(self) -> str:
        return f"{self.cluster_name}-control-plane"

    def _kube(self) -> Kube:
        """kubelab's client layer on the kubeconfig pytest-kind wrote."""
        return Kube.from_kubeconfig(self._kubeconfig)

    def _wait_nodes_ready(self) -> None:
        want = self.workers + 1
        say(f"[kind] waiting for {want} nodes to be Ready")
        kube = self._kube()

        def problems() -> list[str]:
            nodes = kube.nodes()
            seen = [not_ready_reason(n) for n in nodes if not is_ready(n)]
            if len(nodes) < want:
                seen.append(f"{want - len(nodes)} of {want} nodes not registered")
            return seen

        try:
            wait_until(
                problems,
                lambda seen: not seen,
                timeout=LONG,
                interval=0.5,
                what=f"{want} kind nodes Ready",
                describe="; ".join,
            )
        except WaitTimeout as exc:
            raise EnvironmentProblem(
                f"{exc} (nodes, kube-system and kind's logs: {self._diagnose(kube)})"
            ) from exc

    def _diagnose(self, kube: Kube) -> Path:
        """Nodes, kube-system's events, pods and logs, and ``kind export logs``, for a failed setup."""
        out = self.work_dir / "diagnostics"
        out.mkdir(parents=True, exist_ok=True)
        (out / "kube-system.txt").write_text(
            diagnostics.collect(kube, self, LabNamespace(kube, "kube-system")) + "\n"
        )
        with contextlib.suppress(commands.CommandFailed):  # the rest is there without it
            commands.run(
                [self._kind_path, "export", "logs", "--name", self.cluster_name, out / "kind"],
                timeout=LONG,
            )
        return out

    def _offline_dns(self) -> None:
        """CoreDNS answers NXDOMAIN for names outside the cluster, as a connected one does."""
        kube = self._kube()
        cm = kube.get("ConfigMap", "coredns", "kube-system")
        corefile = offline_corefile(cm.data["Corefile"])
        if corefile == cm.data["Corefile"]:
            return
        kube.patch("ConfigMap", "coredns", {"data": {"Corefile": corefile}}, "kube-system")
        # what `kubectl rollout restart` does: a new pod template, so new pods read the new file
        restarted = {"kubectl.kubernetes.io/restartedAt": datetime.now(UTC).isoformat()}
        kube.patch(
            "Deployment",
            "coredns",
            {"spec": {"template": {"metadata": {"annotations": restarted}}}},
            "kube-system",
        )
        wait_until(
            lambda: rollout_status(kube.get("Deployment", "coredns", "kube-system")),
            lambda status: status.endswith("successfully rolled out"),
            timeout=LONG,
            what="kind's CoreDNS to restart with the offline Corefile",
            describe=str,
        )

    def _load_built_images(self, cluster: object) -> Images:
        images, archives = lab_images_for_nodes(self.app_dir, cache_dir())
        for ref, archive in archives.items():
            say(f"[kind] kind load image-archive {ref}")
            commands.run(
                [self._kind_path, "load", "image-archive", "--name", self.cluster_name, archive],
                timeout=BUILD,
            )
        return images

    def _load_upstream_images(self, cluster: object) -> Images:
        images = Images(
            redis=REDIS_UPSTREAM,
            web_v1=WEB_V1_IMAGE,
            web_v2=WEB_V2_IMAGE,
            pull_policy="IfNotPresent",
        )
        for version, ref in (("1.0", images.web_v1), ("2.0", images.web_v2)):
            log.info("building %s from %s", ref, self.app_dir)
            commands.run(
                [
                    "docker",
                    "build",
                    "-q",
                    "-t",
                    ref,
                    "--build-arg",
                    f"VERSION={version}",
                    self.app_dir,
                ],
                timeout=BUILD,
            )
        commands.run(["docker", "pull", "-q", REDIS_UPSTREAM], timeout=BUILD)
        for ref in (images.redis, images.web_v1, images.web_v2):
            cluster.load_docker_image(ref)  # type: ignore[attr-defined]
        return images

    def _kind_network_exists(self) -> bool:
        return network_exists()

    # -- the provider contract ---------------------------------------------------------------
    def teardown(self) -> None:
        if self._found:
            say(
                f"[kind] left the existing cluster {self.cluster_name} as it found it (this run "
                "did not create it)",
            )
            if self.engine.started_here:  # the engine was not running either
                self.engine.stop()
            return
        if self.keep and self._ready:
            if self._cluster is not None:
                say(
                    f"[kind] keeping cluster {self.cluster_name} (kubeconfig {self._kubeconfig})",
                )
            return
        try:
            if self._cluster is not None:
                say(f"[kind] deleting cluster {self.cluster_name}")
                self._cluster.delete()  # type: ignore[attr-defined]
                if not self._network_before and self._kind_network_exists():
                    remove_network()
        finally:
            if self.engine.started_here:
                self.engine.stop()

    def run_on_node(self, node_name: str, argv: list[str], timeout: float) -> str:
        return node_command(node_name, ["docker", "exec", node_name, *argv], timeout)

    def node_containers(self, node_name: str) -> list[str]:
        out = self.run_on_node(node_name, ["crictl", "ps", "-q", "--no-trunc"], timeout=SHORT)
        return out.split()

    def logs_hint(self) -> str:
        if self._cluster is None:
            return ""
        return f"kind's logs: kind export logs --name {self.cluster_name} (with --keep-cluster)"
