"""API objects the local cluster needs after the API server is up (as admin, via the Python client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubelab.cluster.local import plan
from kubelab.cluster.local.plan import LocalNode
from kubelab.names import CONTROL_PLANE_LABEL, MANAGED_BY

COREDNS_USER = "kubelab:coredns"
APISERVER_KUBELET_USER = "kube-apiserver-kubelet-client"
API_TIMEOUT = 10.0
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def api_client(kubeconfig: Path) -> client.ApiClient:
    """An API client authenticated by the admin kubeconfig."""
    return config.new_client_from_config(config_file=str(kubeconfig))


def readyz(api: client.ApiClient) -> str:
    """The API server's /readyz body ("ok" when ready), or "HTTP <status>: <body>"."""
    resp = api.call_api("GET", f"{api.configuration.host}/readyz", _request_timeout=API_TIMEOUT)
    body = bytes(resp.read() or b"").decode(errors="replace").strip()
    return body if resp.status == 200 else f"HTTP {resp.status}: {body[:200]}"


def _create(create: Any, *args: Any) -> None:
    try:
        create(*args, _request_timeout=API_TIMEOUT)
    except ApiException as exc:
        if exc.status != 409:  # already there from a previous run against the same etcd
            raise


def apply_bootstrap_objects(api: client.ApiClient, cp: LocalNode) -> None:
    """RBAC for CoreDNS and for the API server's kubelet client; the selectorless kube-dns Service."""
    rbac = client.RbacAuthorizationV1Api(api)
    meta = client.V1ObjectMeta
    labels = dict(MANAGED_BY)
    _create(
        rbac.create_cluster_role,
        client.V1ClusterRole(
            metadata=meta(name="kubelab:coredns", labels=labels),
            rules=[
                client.V1PolicyRule(
                    api_groups=[""],
                    resources=["endpoints", "services", "pods", "namespaces"],
                    verbs=["list", "watch"],
                ),
                client.V1PolicyRule(
                    api_groups=["discovery.k8s.io"],
                    resources=["endpointslices"],
                    verbs=["list", "watch"],
                ),
            ],
        ),
    )
    for binding, role, user in (
        ("kubelab:coredns", "kubelab:coredns", COREDNS_USER),
        ("kubelab:apiserver-kubelet", "system:kubelet-api-admin", APISERVER_KUBELET_USER),
    ):
        _create(
            rbac.create_cluster_role_binding,
            client.V1ClusterRoleBinding(
                metadata=meta(name=binding, labels=labels),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User", name=user, api_group="rbac.authorization.k8s.io"
                    )
                ],
            ),
        )
    dns_labels = {**labels, "k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    ports = [("dns", "UDP"), ("dns-tcp", "TCP")]
    _create(
        client.CoreV1Api(api).create_namespaced_service,
        "kube-system",
        client.V1Service(
            metadata=meta(name="kube-dns", labels=dns_labels),
            spec=client.V1ServiceSpec(
                cluster_ip=plan.DNS_SERVICE_IP,
                ports=[client.V1ServicePort(name=n, protocol=p, port=53) for n, p in ports],
            ),
        ),
    )
    _create(
        client.DiscoveryV1Api(api).create_namespaced_endpoint_slice,
        "kube-system",
        client.V1EndpointSlice(
            metadata=meta(
                name="kube-dns-kubelab",
                labels={
                    **labels,
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "kubelab.local",
                },
            ),
            address_type="IPv4",
            endpoints=[
                client.V1Endpoint(
                    addresses=[cp.address],
                    conditions=client.V1EndpointConditions(ready=True),
                    node_name=cp.name,
                )
            ],
            ports=[client.DiscoveryV1EndpointPort(name=n, protocol=p, port=53) for n, p in ports],
        ),
    )


def node_states(api: client.ApiClient) -> dict[str, str]:
    """Each registered node's readiness: "True" once Ready and no longer tainted not-ready.

    The node lifecycle controller lifts the not-ready taint a moment after Ready; until then
    the scheduler would leave new pods Pending, so "ready" waits for both.
    """
    nodes = client.CoreV1Api(api).list_node(_request_timeout=API_TIMEOUT).items
    out: dict[str, str] = {}
    for node in nodes:
        conditions = (node.status.conditions if node.status else None) or []
        ready = [c.status for c in conditions if c.type == "Ready"]
        state = ready[0] if ready else "Unknown"
        taints = (node.spec.taints if node.spec else None) or []
        if state == "True" and any(t.key == NOT_READY_TAINT for t in taints):
            state = "Tainted"
        out[str(node.metadata.name if node.metadata else "")] = state
    return out


def finish_node(api: client.ApiClient, node: LocalNode) -> None:
    """Set the node's pod CIDR and, on the control plane, the role label the kubelet may not set."""
    body: dict[str, Any] = {"spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]}}
    if node.control_plane:
        body["metadata"] = {"labels": {CONTROL_PLANE_LABEL: ""}}
    core = client.CoreV1Api(api)
    current = core.read_node(node.name, _request_timeout=API_TIMEOUT)
    if current.spec and current.spec.pod_cidr:
        del body["spec"]  # immutable once set
    if body:
        core.patch_node(node.name, body, _request_timeout=API_TIMEOUT)
