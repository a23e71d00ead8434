"""Booting a local cluster in kubeadm's order, as processes in network namespaces: certificates,
network, containerd, etcd and the API server, the kubelets, the controllers and kube-proxies,
the DNS add-on; then nodes Ready and cluster DNS answering from every worker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from kubelab.build import Binaries, Runtime
from kubelab.cluster.local import (
    bootstrap,
    cleanup,
    components,
    configs,
    containerd,
    dns,
    files,
    netns,
    network,
    plan,
    teardown,
)
from kubelab.cluster.local.components import Layout
from kubelab.cluster.local.plan import LocalNode
from kubelab.cluster.local.supervise import Supervisor
from kubelab.console import say
from kubelab.images.coredns import coredns_image
from kubelab.releases import Chosen
from kubelab.waits import LONG, MEDIUM, SHORT

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

DNS_PROBE_NAME = f"kubernetes.default.svc.{plan.CLUSTER_DOMAIN}"
DNS_ANSWER_WITHIN = 0.5  # CoreDNS answers in milliseconds; a lost first packet is asked again


@dataclass(frozen=True)
class Boot:
    """One boot of the cluster ``name``: what it runs and where its files and processes go."""

    name: str
    workers: int
    release: Chosen
    pause: str  # the pod sandbox image every node's containerd is told of
    proxy_mode: str
    layout: Layout
    processes: Supervisor

    def run(self, bins: Binaries, runtime: Runtime, images: list[Path]) -> None:
        started = time.monotonic()

        def phase(message: str) -> None:
            say(f"[up] {message} ({time.monotonic() - started:.1f}s)")

        layout = self.layout
        nodes = plan.plan_nodes(self.name, self.workers)
        cp = plan.control_plane(nodes)
        cleanup.remove_tree(layout.logs)
        for d in (layout.root, layout.logs, layout.pids):
            d.mkdir(parents=True, exist_ok=True)
        layout.meta.write_text(
            json.dumps(
                {
                    "name": self.name,
                    "workers": self.workers,
                    "k8s_version": self.release.version,
                    "proxy_mode": self.proxy_mode,
                }
            )
        )
        teardown.record_host_dirs(layout)
        phase(f"certificates for {len(nodes)} nodes")
        files.write_pki(layout, nodes)
        phase("network: bridge, node namespaces, routes")
        network.setup_host(layout.host_state)
        for node in nodes:
            network.setup_node(node)
            cleanup.create_cgroup(configs.cgroup_root(self.name, node))
            files.write_node_files(layout, node, runtime.path("runc"), self.pause, self.proxy_mode)
        phase("starting containerd on every node, etcd and kube-apiserver")
        for node in nodes:
            self.processes.spawn(node, "containerd", components.containerd(runtime, layout, node))
        self.processes.spawn(cp, "etcd", components.etcd(bins, layout, cp))
        self.processes.spawn(cp, "kube-apiserver", components.kube_apiserver(bins, layout, cp))
        # No pod can start before the DNS add-on is created below: the images go in meanwhile,
        # once the API server answers (its start is CPU-bound: unpacking images beside it
        # delays its first answer, and the whole boot with it).
        with ThreadPoolExecutor(max_workers=1) as background:
            phase("waiting for kube-apiserver")
            api = bootstrap.api_client(layout.admin_kubeconfig)
            self.processes.wait(
                lambda: bootstrap.readyz(api), bool, MEDIUM, "kube-apiserver to answer"
            )
            imported = background.submit(self._import_images, nodes, images)
            # The kubelets need only an API server that answers (the Node authorizer admits
            # them, and they retry until it does): started then, not once it is ready (after
            # its post-start hooks), the nodes register that much sooner.
            self._start_kubelets(bins, nodes, phase)
            self.processes.wait(
                lambda: bootstrap.readyz(api),
                lambda body: body.strip() == "ok",
                MEDIUM,
                "kube-apiserver /readyz",
            )
            # kube-proxy needs its RBAC binding, which the API server creates while it gets
            # ready: started before, it is refused and backs off for seconds.
            self._start_controllers(bins, nodes, api, phase)
            imported.result()
        # No pod may start before its node's kube-proxy has written the Service rules: CoreDNS
        # dialling the kubernetes Service's address with no DNAT rule yet leaves a conntrack
        # entry that holds its connection for 30 s, and DNS with it.
        synced: set[str] = set()  # once synced, a node's kube-proxy is not asked again

        def unsynced() -> list[str]:
            for n in nodes:
                if n.netns not in synced and netns.kube_proxy_synced(cleanup.NETNS_DIR / n.netns):
                    synced.add(n.netns)
            return [n.name for n in nodes if n.netns not in synced]

        self.processes.wait(
            unsynced, lambda left: not left, MEDIUM, "every node's kube-proxy to write its rules"
        )
        phase("images imported; creating the DNS add-on")
        bootstrap.apply_dns_addon(api, coredns_image(self.release.release.coredns))
        self._wait_ready(nodes, api, phase)

    def _start_kubelets(
        self, bins: Binaries, nodes: list[LocalNode], phase: Callable[[str], None]
    ) -> None:
        phase(
            "kube-apiserver answers; importing the pause and CoreDNS images, starting the kubelets"
        )
        for node in nodes:
            self.processes.spawn(node, "kubelet", components.kubelet(bins, self.layout, node))

    def _start_controllers(
        self, bins: Binaries, nodes: list[LocalNode], api: ApiClient, phase: Callable[[str], None]
    ) -> None:
        # Once ready: the controller-manager asks /healthz before it starts, and asks again
        # only a second later.
        phase("kube-apiserver ready; starting the controller-manager, scheduler, kube-proxies")
        cp = plan.control_plane(nodes)
        layout = self.layout
        self.processes.spawn(
            cp, "kube-controller-manager", components.kube_controller_manager(bins, layout)
        )
        self.processes.spawn(cp, "kube-scheduler", components.kube_scheduler(bins, layout))
        for node in nodes:
            self.processes.spawn(node, "kube-proxy", components.kube_proxy(bins, layout, node))
        bootstrap.apply_bootstrap_objects(api)

    def _wait_ready(
        self, nodes: list[LocalNode], api: ApiClient, phase: Callable[[str], None]
    ) -> None:
        layout = self.layout
        cp = plan.control_plane(nodes)
        names = {n.name for n in nodes}
        self.processes.wait(
            lambda: bootstrap.node_states(api),
            lambda states: names <= set(states),
            MEDIUM,
            f"{len(nodes)} nodes to register",
        )
        for node in nodes:
            bootstrap.finish_node(api, node)
        phase("nodes registered; waiting for Ready")
        self.processes.wait(
            lambda: bootstrap.node_states(api),
            lambda states: all(states.get(n) == "True" for n in names),
            LONG,
            f"{len(nodes)} nodes Ready",
        )
        probes = [n for n in nodes if not n.control_plane] or [cp]
        phase(f"nodes Ready; checking cluster DNS from {', '.join(n.netns for n in probes)}")
        # every worker, all at once: each has its own kube-proxy rules for 10.96.0.10
        with ThreadPoolExecutor(max_workers=len(probes)) as pool:
            waits = [
                pool.submit(
                    self.processes.wait,
                    partial(self._dns_probe, probe),
                    lambda answer: answer.split()[:2] == ["NOERROR", plan.KUBERNETES_SERVICE_IP],
                    SHORT,
                    f"DNS {DNS_PROBE_NAME} via {plan.DNS_SERVICE_IP} from {probe.netns}",
                )
                for probe in probes
            ]
            for done in waits:
                done.result()
        phase(f"cluster {self.name} ready; kubeconfig {layout.admin_kubeconfig}")

    def _dns_probe(self, node: LocalNode) -> str:
        return dns.query_a(
            cleanup.NETNS_DIR / node.netns, plan.DNS_SERVICE_IP, DNS_PROBE_NAME, DNS_ANSWER_WITHIN
        )

    def _import_images(self, nodes: list[LocalNode], archives: list[Path]) -> None:
        for node in nodes:
            sock = node.containerd_socket
            self.processes.wait(sock.exists, bool, SHORT, f"containerd socket {sock}")
        containerd.import_archives(nodes, archives)
