"""Reaching a Service by its name from the web pods: lookups, connects, and the diagnosis when a
name does not resolve (the cluster DNS's endpoints, kubelab.causes's cause)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kubernetes.client.rest import ApiException

from kubelab import causes, evidence, probes
from kubelab.client import Kube
from kubelab.errors import WaitTimeout
from kubelab.http import Answer
from kubelab.lab.objects import web_pods
from kubelab.namespace import LabNamespace
from kubelab.states import endpoint_ready, pod_ready

# What the app (redis-py, glibc) says when a name does not resolve.
NAME_ERRORS = ("Name or service not known", "name resolution", "Name does not resolve")


@dataclass(frozen=True)
class Lookup:
    """What a name resolves to inside a pod, and the ClusterIP of the Service it names."""

    host: str
    pod: str
    addresses: list[str]  # or ["error:", ...] when it does not resolve
    service_address: str
    cause: str = ""  # why the name does not give the Service's address, when the API tells

    def explain(self, service: str) -> str:
        """What the name resolved to instead of Service ``service``'s ClusterIP, the cause first."""
        seen = (
            f"{self.host} in pod {self.pod} resolves to {' '.join(self.addresses)}, "
            f"not to Service {service}'s ClusterIP {self.service_address}"
        )
        return f"{self.cause}; {seen}" if self.cause else seen


def describe_cluster_dns(kube: Kube) -> str:
    """The cluster DNS Service's endpoints in one line, for messages about names."""
    try:
        slices = kube.objects("EndpointSlice", "kube-system", "kubernetes.io/service-name=kube-dns")
    except ApiException as exc:
        return f"the kube-dns Service's endpoints cannot be read ({exc.status} {exc.reason})"
    endpoints = [
        f"{address} ({'ready' if endpoint_ready(e) else 'not ready'})"
        for s in slices
        for e in s.endpoints or []
        for address in e.addresses
    ]
    return f"the kube-dns Service's endpoints: {', '.join(endpoints) or 'none'}"


def look_up(ns: LabNamespace, host: str, pod: str = "web") -> Lookup:
    """The addresses ``host`` resolves to inside pod ``pod`` (its resolver, its search path),
    and the ClusterIP of the Service the name denotes (``<service>.<namespace>``)."""
    service, _, namespace = host.partition(".")
    expected = ns.kube.get("Service", service, namespace or ns.name)
    name = ns.wait_for_pod_ready(pod).metadata.name
    addresses = probes.resolve(ns, name, host)
    address = expected.spec.cluster_ip if expected else "(none)"
    evidence.record(
        f"what {host} resolves to in pod {name}",
        f"{host}: {' '.join(addresses)}\n(Service {service}'s ClusterIP: {address})",
    )
    # Only when the name does not give the Service's address: the cluster's DNS not serving.
    cause = causes.dns_not_serving(ns, name) if addresses != [address] else ""
    return Lookup(host, name, addresses, address, cause)


def wait_until_web_pods_connect(ns: LabNamespace, service: str, port: int) -> None:
    """Wait until every ready web pod opens a TCP connection to ``service:port`` by name (no
    visit counted); on timeout the cause comes first, else the cluster DNS's endpoints."""
    # kube-proxy on each node programs the Service a moment after its endpoints exist. All pods
    # at once: each attempt is an exec, a round trip through the API server.
    ready = [pod.metadata.name for pod in web_pods(ns) if pod_ready(pod)]
    with ThreadPoolExecutor(max_workers=max(1, len(ready))) as pool:
        connects = [
            pool.submit(probes.wait_until_connects, ns, pod, service, port) for pod in ready
        ]
        try:
            for connected in connects:
                connected.result()
        except WaitTimeout as exc:
            cause = causes.why_not_reached(ns, service, ready[0])
            raise WaitTimeout(
                f"{cause}; {exc}" if cause else f"{exc}; {describe_cluster_dns(ns.kube)}"
            ) from exc


def explain(ns: LabNamespace, answers: list[Answer]) -> str:
    """Every answer in full, one a line; the cause first when the web pods cannot reach redis,
    and the cluster DNS's endpoints when an answer says a name did not resolve."""
    lines = [f"{a.status} from {a.via}: {a.text}" for a in answers] or ["no answer"]
    if any("connecting to redis" in a.text for a in answers):
        ready = [p.metadata.name for p in web_pods(ns) if pod_ready(p)]
        cause = causes.why_not_reached(ns, "redis", ready[0]) if ready else ""
        if cause:
            lines.insert(0, cause)
    if any(error in a.text for a in answers for error in NAME_ERRORS):
        lines.append(describe_cluster_dns(ns.kube))
    return "\n".join(lines)
