"""One scenario's namespace: creating it, what the lab does in it, waiting on it, deleting it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from kubernetes import client

from kubelab.client import Kube
from kubelab.errors import EnvironmentProblem, WaitTimeout
from kubelab.states import describe_pods, endpoint_ready, pod_ready, stuck
from kubelab.waits import MEDIUM, SHORT, wait_until
from kubelab.watching import watch_until

TEARDOWN_GRACE = 1  # seconds a pod gets to stop when the suite removes a scenario's namespace

# What the lab may leave in a namespace, as "kind/name" prefixes in ``leftovers``.
LAB_KINDS = (
    "Pod",
    "Service",
    "ReplicationController",
    "Deployment",
    "ReplicaSet",
    "EndpointSlice",
)


def namespace_name(prefix: str = "kubelab") -> str:
    """A fresh namespace name: ``prefix`` and a random suffix."""
    return f"{prefix}-{secrets.token_hex(3)}"


class LabNamespace:
    """One scenario's namespace: everything the lab creates lives, and dies, here."""

    def __init__(self, kube: Kube, name: str, timeout: float = MEDIUM) -> None:
        self.kube = kube
        self.name = name
        self.timeout = timeout  # the default for waits on pods and controllers

    def __repr__(self) -> str:
        return f"LabNamespace({self.name})"

    @classmethod
    def new(cls, kube: Kube, name: str, timeout: float = MEDIUM) -> LabNamespace:
        """Create namespace ``name``, labelled as kubelab's, and wait until pods can be created
        in it: its default ServiceAccount exists (30 s)."""
        kube.create_namespace(name)
        try:
            wait_until(
                lambda: kube.get("ServiceAccount", "default", name),
                lambda account: account is not None,
                timeout=SHORT,
                interval=0.1,
                what=f"the default ServiceAccount of namespace {name}",
            )
        except WaitTimeout as exc:
            raise EnvironmentProblem(
                f"namespace {name} got no default ServiceAccount within {SHORT:.0f} s: the "
                "controller-manager is not acting (its serviceaccount controller creates it; "
                "without it no pod can be created)"
            ) from exc
        return cls(kube, name, timeout)

    # ---- objects --------------------------------------------------------------------------

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create the object described by ``manifest`` in this namespace."""
        self.kube.create_from_manifest(manifest, self.name)

    def get(self, kind: str, name: str) -> Any:
        """The object ``kind/name`` in this namespace, or None when it does not exist."""
        return self.kube.get(kind, name, self.name)

    def objects(self, kind: str, selector: str = "") -> list[Any]:
        """Objects of ``kind`` in this namespace, optionally filtered by a label selector."""
        return self.kube.objects(kind, self.name, selector)

    def create(self, kind: str, body: Any) -> Any:
        """Create an object of ``kind`` in this namespace."""
        return self.kube.create(kind, body, self.name)

    def patch(self, kind: str, name: str, body: Any) -> Any:
        """Patch ``kind/name`` in this namespace."""
        return self.kube.patch(kind, name, body, self.name)

    def scale(self, kind: str, name: str, replicas: int) -> None:
        """Set the replicas of controller ``kind/name``."""
        self.kube.scale(kind, name, self.name, replicas)

    def delete(self, kind: str, name: str, propagation: str = "Foreground") -> bool:
        """Delete ``kind/name`` (foreground: with what it owns); False when it did not exist."""
        return self.kube.delete(kind, name, self.name, propagation)

    def pods(self, selector: str = "") -> list[client.V1Pod]:
        """Pods in the namespace, optionally filtered by a label selector."""
        return self.objects("Pod", selector)

    def pod(self, name: str) -> client.V1Pod:
        """The pod called ``name``; EnvironmentProblem when there is none."""
        found = self.get("Pod", name)
        if found is None:
            raise EnvironmentProblem(f"there is no pod {name} in {self.name}")
        return found

    def node_port(self, service: str) -> int:
        """The first NodePort of ``service``."""
        found = self.get("Service", service)
        for port in (found.spec.ports if found else None) or []:
            if port.node_port:
                return int(port.node_port)
        raise EnvironmentProblem(f"service {service} in {self.name} has no NodePort")

    def leftovers(self) -> list[str]:
        """Everything of the lab still in the namespace: pods, services, controllers, endpoints."""
        return [
            f"{kind.lower()}/{obj.metadata.name}"
            for kind in LAB_KINDS
            for obj in self.objects(kind)
        ]

    def request_deletion(self) -> None:
        """Ask for the namespace and everything in it to be deleted (returns at once).

        The lab's pods keep the seed's 30 s grace period; at teardown the suite does not wait
        it out: once the namespace is terminating (nothing new can be created in it), its pods
        are deleted with a grace period of 1 s.
        """
        self.kube.delete("Namespace", self.name)
        self.kube.delete_pods(self.name, grace_period=TEARDOWN_GRACE)

    # ---- waits ----------------------------------------------------------------------------

    def watch_until(
        self,
        kind: str,
        done: Callable[[list[Any]], bool],
        *,
        what: str,
        selector: str = "",
        name: str = "",
        timeout: float | None = None,
        describe: Callable[[list[Any]], str] = repr,
        fatal: Callable[[list[Any]], str | None] = lambda _: None,
    ) -> list[Any]:
        """Follow the objects of ``kind`` here (by label ``selector``, or one ``name``) until
        ``done(objects)``; return them (default timeout: the namespace's)."""
        return watch_until(
            self.kube.follower(kind, self.name, selector, name),
            done,
            timeout=timeout or self.timeout,
            what=f"{what} in {self.name}",
            describe=describe,
            fatal=fatal,
        )

    def wait_for_ready_pods(
        self, selector: str, count: int, timeout: float | None = None
    ) -> list[client.V1Pod]:
        """Wait until exactly ``count`` pods match ``selector`` and are ready (default: ns timeout)."""

        def settled(pods: list[client.V1Pod]) -> bool:
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            return len(live) == count == len(pods) and all(pod_ready(p) for p in pods)

        return self.watch_until(
            "Pod",
            settled,
            selector=selector,
            timeout=timeout,
            what=f"{count} ready pod(s) matching {selector}",
            describe=describe_pods,
            fatal=stuck,
        )

    def wait_for_pod_ready(self, name: str, timeout: float | None = None) -> client.V1Pod:
        """Wait until pod ``name`` runs and is ready (default: the namespace's timeout)."""
        pods = self.watch_until(
            "Pod",
            lambda pods: len(pods) == 1 and pod_ready(pods[0]),
            name=name,
            timeout=timeout,
            what=f"pod {name} to be ready",
            describe=describe_pods,
            fatal=stuck,
        )
        return pods[0]

    def wait_for_endpoints(self, service: str, count: int, timeout: float = SHORT) -> list[str]:
        """Wait until ``service`` has ``count`` ready endpoint addresses (default 30 s)."""

        def ready_addresses(slices: list[Any]) -> list[str]:
            return sorted(
                addr
                for s in slices
                for e in s.endpoints or []
                if endpoint_ready(e)
                for addr in e.addresses
            )

        slices = self.watch_until(
            "EndpointSlice",
            lambda slices: len(ready_addresses(slices)) == count,
            selector=f"kubernetes.io/service-name={service}",
            timeout=timeout,
            what=f"{count} ready endpoint(s) behind service {service}",
            describe=lambda slices: f"ready: {ready_addresses(slices)}",
        )
        return ready_addresses(slices)


def wait_until_deleted(kube: Kube, names: list[str], timeout: float) -> None:
    """Wait until none of the namespaces ``names`` exists any more."""

    def left(namespaces: list[Any]) -> list[Any]:
        return [n for n in namespaces if n.metadata.name in names]

    def describe(namespaces: list[Any]) -> str:
        # The namespace controller (in kube-controller-manager) empties a Terminating namespace
        # and reports on it in its conditions; none at all means it never acted.
        return "left: " + "; ".join(
            f"{ns.metadata.name} {ns.status.phase}"
            + (
                ""
                if ns.status.conditions
                else " (no namespace controller acted on it: the controller-manager is not acting)"
            )
            for ns in left(namespaces)
        )

    watch_until(
        kube.follower("Namespace"),  # every namespace: the sentinels' carry another label
        lambda namespaces: not left(namespaces),
        timeout=timeout,
        what=f"the run's {len(names)} namespace(s) to be deleted",
        describe=describe,
    )
