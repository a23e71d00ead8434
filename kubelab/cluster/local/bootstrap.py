"""API objects the local cluster needs after the API server is up (as admin, via the Python client)."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from kubelab.cluster.local import plan
from kubelab.cluster.local.plan import LocalNode
from kubelab.errors import EnvironmentProblem
from kubelab.names import CONTROL_PLANE_LABEL, MANAGED_BY

DNS_ADDON = Path(__file__).with_name("coredns.yaml")
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


def apply_bootstrap_objects(api: client.ApiClient) -> None:
    """RBAC for the API server's kubelet client."""
    _create(
        client.RbacAuthorizationV1Api(api).create_cluster_role_binding,
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(
                name="kubelab:apiserver-kubelet",
                labels=dict(MANAGED_BY),
            ),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name="system:kubelet-api-admin",
            ),
            subjects=[
                client.RbacV1Subject(
                    kind="User",
                    name=APISERVER_KUBELET_USER,
                    api_group="rbac.authorization.k8s.io",
                )
            ],
        ),
    )


def dns_addon(image: str) -> list[dict[str, Any]]:
    """kubeadm's CoreDNS add-on (ServiceAccount, RBAC, ConfigMap, Deployment, kube-dns Service)."""
    text = string.Template(DNS_ADDON.read_text()).substitute(
        domain=plan.CLUSTER_DOMAIN, dns_ip=plan.DNS_SERVICE_IP, image=image
    )
    return [doc for doc in yaml.safe_load_all(text) if doc]


def apply_dns_addon(api: client.ApiClient, image: str) -> None:
    """Create the CoreDNS add-on in kube-system (objects already there are left as they are)."""
    for doc in dns_addon(image):
        try:
            utils.create_from_dict(api, doc)
        except utils.FailToCreateError as exc:
            failed = [e for e in exc.api_exceptions if e.status != 409]
            if failed:
                raise EnvironmentProblem(
                    f"could not create the DNS add-on's {doc['kind']} {doc['metadata']['name']}: "
                    + "; ".join(f"{e.status} {e.reason}" for e in failed)
                ) from None


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
