"""``Lab``: the lab's operations, named as the lab names them, on one scenario's namespace."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

from kubelab import traffic
from kubelab.cluster.base import Provider
from kubelab.http import Answer
from kubelab.images import Images
from kubelab.lab import asking, dns, objects, page, rolling, tables
from kubelab.lab.placement import Placement, find_placement
from kubelab.namespace import LabNamespace


class Lab:
    """The lab on one cluster (provider), in one namespace, with one set of images.

    ``create_`` creates, ``start_`` creates unless present and returns at once, ``wait_for_``
    blocks until a state holds; a method that does both says so in its name.
    """

    def __init__(
        self,
        provider: Provider,
        namespace: LabNamespace,
        images: Images,
        reports: Path = Path("reports"),
    ) -> None:
        self.provider = provider
        self.ns = namespace
        self.images = images
        self.reports = reports

    # -- pods -----------------------------------------------------------------------------
    def create_pod(self, name: str) -> None:
        """Create the lab's ``redis`` or ``web`` pod."""
        objects.create_pod(self.ns, self.images, name)

    def start_pod(self, name: str) -> None:
        """Create the ``redis`` or ``web`` pod unless it exists (returns at once)."""
        objects.start_pod(self.ns, self.images, name)

    def start_pod_and_wait_until_ready(self, name: str) -> client.V1Pod:
        """Create the pod unless it exists, and wait until it is ready (the namespace's timeout)."""
        self.start_pod(name)
        return self.ns.wait_for_pod_ready(name)

    def placement(self, name: str) -> Placement:
        """Once pod ``name`` is ready: its node and what that node's container runtime says."""
        return find_placement(self.ns, self.provider, name)

    # -- services -------------------------------------------------------------------------
    def start_service(self, name: str) -> None:
        """Create the lab's ``redis`` or ``web`` Service unless it exists (returns at once)."""
        objects.start_service(self.ns, self.images, name)

    def start_service_and_note_when(self, name: str) -> float:
        """Create the Service unless it exists (returns at once); the moment it existed
        (time.monotonic()), from which ``ask_until_page_settles`` counts."""
        self.start_service(name)
        return time.monotonic()

    def start_service_and_wait_until_it_answers(self, name: str) -> None:
        """Create the Service unless it exists, and wait until it is in effect: a ready endpoint
        per pod it selects and, for redis, every ready web pod connecting to it by name."""
        self.start_service(name)
        objects.wait_for_service_endpoints(self.ns, name)
        if name == "redis":
            dns.wait_until_web_pods_connect(self.ns, "redis", 6379)
        tables.record_services(self.ns)

    # -- asking the app -------------------------------------------------------------------
    def ask_pod_from_its_node(self, name: str, times: int = 1) -> list[Answer]:
        """GET the pod's page ``times`` times from its own node (else the API server's proxy)."""
        return asking.ask_pod_from_its_node(self.ns, self.provider, name, times)

    def ask_until_page_settles(self, since: float) -> page.PageSince:
        """Ask the web pod from its node, and look redis up in it, again and again from ``since``
        until its page holds (or the namespace's timeout passed)."""
        return page.ask_until_page_settles(self.ns, self.provider, since)

    def ask_every_node(self, service: str = "web") -> list[Answer]:
        """GET the page once on every node's address at the Service's NodePort."""
        return asking.ask_every_node(self.ns, service)

    def node_port_urls(self, service: str = "web") -> list[str]:
        """The Service's URL on every node's address."""
        return asking.node_port_urls(self.ns, service)

    def look_up(self, host: str, pod: str = "web") -> dns.Lookup:
        """What ``host`` resolves to inside pod ``pod`` and its Service's ClusterIP; when it does
        not give that address, why (the cluster's DNS not serving), if the API tells."""
        return dns.look_up(self.ns, host, pod)

    def explain(self, answers: list[Answer]) -> str:
        """Every answer in full, the cause or the cluster DNS's endpoints where they tell why."""
        return dns.explain(self.ns, answers)

    def explain_versions(self, answers: list[Answer]) -> str:
        """``explain`` for answers not from 2.0, naming a 2.0 image that holds the 1.0 app."""
        return rolling.explain_versions(self.ns, self.images, answers)

    # -- controllers ----------------------------------------------------------------------
    def create_replication_controller(self, replicas: int) -> client.V1ReplicationController:
        """Create the ``web`` ReplicationController with ``replicas`` replicas."""
        return objects.create_replication_controller(self.ns, self.images, replicas)

    def start_replication_controller(self, replicas: int) -> None:
        """Create the ``web`` ReplicationController unless it exists (returns at once)."""
        objects.start_replication_controller(self.ns, self.images, replicas)

    def start_replication_controller_and_wait_for_pods(self, replicas: int) -> list[client.V1Pod]:
        """Create the ReplicationController unless it exists; wait for ``replicas`` ready pods."""
        self.start_replication_controller(replicas)
        return self.wait_for_web_pods(replicas)

    def start_web_under(self, controller: str, replicas: int = 3) -> None:
        """Create a ReplicationController or Deployment of web 1.0 unless it exists (at once)."""
        objects.start_web_under(self.ns, self.images, controller, replicas)

    def start_web_under_and_wait_until_ready(
        self, controller: str, replicas: int = 3
    ) -> list[client.V1Pod]:
        """``start_web_under``, then wait until its ``replicas`` web pods are ready."""
        self.start_web_under(controller, replicas)
        return self.wait_for_web_pods(replicas)

    def web_pods(self) -> list[client.V1Pod]:
        """The pods the web selector matches, shutting down or not."""
        return objects.web_pods(self.ns)

    def wait_for_web_pods(self, count: int, timeout: float | None = None) -> list[client.V1Pod]:
        """Wait until exactly ``count`` web pods run and are ready (default: the namespace's)."""
        return objects.wait_for_web_pods(self.ns, count, timeout)

    def wait_for_web_pod_images(self, count: int) -> dict[str, str]:
        """Once exactly ``count`` web pods are ready: each one's name and container image."""
        return objects.wait_for_web_pod_images(self.ns, count)

    def owners_of(self, pod: str) -> list[tuple[str, str]]:
        """(kind, name) of the controllers owning pod ``pod``."""
        return objects.owners_of(self.ns, pod)

    def pods_created_by(self, controller: str) -> list[str]:
        """Web pods ``controller`` created itself (not adopted)."""
        return objects.pods_created_by(self.ns, controller)

    # -- rolling update -------------------------------------------------------------------
    def roll_web_to_v2_under_traffic(
        self,
        controller: str,
        rate: float = traffic.RATE,
        record: Callable[[str, object], None] | None = None,
    ) -> rolling.Rollout:
        """Roll web to 2.0 under ``controller`` while traffic flows on every node; the timeline
        goes to the reports directory, and ``record`` (pytest's ``record_property``) gets it."""
        return rolling.roll_web_to_v2_under_traffic(
            self.ns, self.images, self.reports, controller, rate, record
        )

    # -- clearing -------------------------------------------------------------------------
    def delete_services_rc_and_pods(self) -> None:
        """Delete as the seed does: the services, the RC, then the pods (gone already is fine)."""
        objects.delete_services_rc_and_pods(self.ns)

    def wait_until_empty(self, timeout: float | None = None) -> list[str]:
        """Wait until nothing of the lab is left in the namespace (default: the namespace's)."""
        return objects.wait_until_empty(self.ns, timeout)
