"""Why a Service of the lab does not answer by its name: the cause first, in one line.

A failing step names what it waited for and what it saw ("Connection refused", a DNS error).
These functions look one step further, at what the API says of the Service and of the cluster's
DNS, and say which of them is broken: a Service whose selector matches no pod, or a DNS server
whose pods are ready but which does not answer for the cluster's names. Each returns "" when it
finds nothing wrong, so its caller keeps its own story.
"""

from __future__ import annotations

from kubelab import checks, probes
from kubelab.namespace import LabNamespace
from kubelab.states import describe_pods, endpoint_ready

# A name every cluster's DNS serves: the API server's own Service, through the pod's search path
# (<ns>.svc.cluster.local, svc.cluster.local, ... on a cluster whose domain is cluster.local).
CLUSTER_NAME = "kubernetes.default"


def labels(selector: dict[str, str]) -> str:
    """A label selector as ``kubectl`` writes one: ``app=redis,tier=db``."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def service_without_endpoints(ns: LabNamespace, name: str) -> str:
    """Why Service ``name`` in ``ns`` has no ready endpoint, naming its selector and the pods
    there ("" when it has one, or when there is no such Service)."""
    service = ns.get("Service", name)
    if service is None:
        return ""
    slices = ns.objects("EndpointSlice", f"kubernetes.io/service-name={name}")
    if any(endpoint_ready(e) for s in slices for e in s.endpoints or []):
        return ""
    selector = labels(service.spec.selector or {})
    if not selector:
        return f"Service {name} in {ns.name} has no endpoints: it has no selector"
    matched = ns.pods(selector)
    if matched:
        return (
            f"Service {name} in {ns.name} has no ready endpoint: the pods its selector {selector} "
            f"matches are not ready ({describe_pods(matched)})"
        )
    return _selects_nothing(ns, name, selector)


def selector_matches_no_pod(ns: LabNamespace, name: str) -> str:
    """Why Service ``name`` in ``ns`` can never answer: its selector matches no pod there ("" when
    it matches one, has no selector, or there is no such Service). Unlike a pod that is not
    ready yet, waiting does not help."""
    service = ns.get("Service", name)
    selector = labels(service.spec.selector or {}) if service is not None else ""
    if not selector or ns.pods(selector):
        return ""
    return _selects_nothing(ns, name, selector)


def _selects_nothing(ns: LabNamespace, name: str, selector: str) -> str:
    there = ", ".join(f"{p.metadata.name} ({labels(p.metadata.labels or {})})" for p in ns.pods())
    return (
        f"Service {name} in {ns.name} has no endpoints because its selector {selector} matches no "
        f"pod (the pods there: {there or 'none'}); the Service as created is wrong, not the "
        "cluster's DNS or proxy"
    )


def dns_not_serving(ns: LabNamespace, pod: str) -> str:
    """Why the cluster's DNS, asked from ``pod``, does not give the cluster's names: its Service
    has no ready endpoint, or its pods are ready and it still does not answer ("" when
    CLUSTER_NAME resolves)."""
    found = probes.resolve(ns, pod, CLUSTER_NAME)
    if found and found[0] != "error:":
        return ""
    seen = " ".join(found) or "no address"
    problems = checks.dns_service_problems(ns.kube)
    if problems:
        return f"{'; '.join(problems)} ({CLUSTER_NAME} does not resolve in pod {pod}: {seen})"
    return (
        "the cluster's DNS server does not answer for cluster.local names while its pods are "
        f"ready: {CLUSTER_NAME}, the API server's own Service, does not resolve in pod {pod} "
        f"({seen}); the cluster is broken here, not kubelab"
    )


def why_not_reached(ns: LabNamespace, service: str, pod: str) -> str:
    """Why pod ``pod`` does not reach Service ``service`` by its name: the Service without
    endpoints, else the cluster's DNS not answering ("" when neither)."""
    return service_without_endpoints(ns, service) or dns_not_serving(ns, pod)
