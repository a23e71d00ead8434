"""API objects the local cluster needs after the API server is up (as admin, via the Python client)."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubelab.cluster.local import plan
from kubelab.cluster.local.plan import LocalNode
from kubelab.errors import EnvironmentProblem
from kubelab.names import CONTROL_PLANE_LABEL, MANAGED_BY

DNS_ADDON = Path(__file__).with_name("coredns.yaml")
APISERVER_KUBELET_USER = "kube-apiserver-kubelet-client"
# Not a tier: the boot polls /readyz inside its own MEDIUM waits, where a request a starting
# API server leaves hanging is better cut short and asked again than waited on.
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


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    content_type: str = "application/json",
) -> Any:
    """One API request as plain JSON (the admin kubeconfig authenticates by client certificate).

    Not the generated API classes: importing ``CoreV1Api`` is CPU-heavy, and the boot's cores are
    busy starting the cluster (docs/measurements.md). An answer that is not 2xx raises
    ApiException, as the generated classes do (so 5xx stays transient).
    """
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = content_type
    resp = api.call_api(
        method,
        f"{api.configuration.host}{path}",
        header_params=headers,
        body=body,
        _request_timeout=API_TIMEOUT,
    )
    data = resp.read()
    if not 200 <= resp.status < 300:
        raise ApiException(http_resp=resp)
    return json.loads(data) if data else None


def collection_path(doc: dict[str, Any]) -> str:
    """The API path that creates ``doc`` (the add-on's kinds: their plural is kind + "s")."""
    api_version = doc["apiVersion"]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    namespace = doc["metadata"].get("namespace")
    plural = doc["kind"].lower() + "s"
    return f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"


def _create(api: client.ApiClient, doc: dict[str, Any]) -> None:
    try:
        request(api, "POST", collection_path(doc), doc)
    except ApiException as exc:
        if exc.status != 409:  # already there from a previous run against the same etcd
            raise


def apply_bootstrap_objects(api: client.ApiClient) -> None:
    """RBAC for the API server's kubelet client."""
    _create(
        api,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubelab:apiserver-kubelet", "labels": dict(MANAGED_BY)},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [
                {
                    "kind": "User",
                    "name": APISERVER_KUBELET_USER,
                    "apiGroup": "rbac.authorization.k8s.io",
                }
            ],
        },
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
            _create(api, doc)
        except ApiException as exc:
            raise EnvironmentProblem(
                f"could not create the DNS add-on's {doc['kind']} {doc['metadata']['name']}: "
                f"{exc.status} {exc.reason}"
            ) from None


def node_states(api: client.ApiClient) -> dict[str, str]:
    """Each registered node's readiness: "True" once Ready and no longer tainted not-ready.

    The node lifecycle controller lifts the not-ready taint a moment after Ready; until then
    the scheduler would leave new pods Pending, so "ready" waits for both.
    """
    out: dict[str, str] = {}
    for node in request(api, "GET", "/api/v1/nodes")["items"]:
        conditions = node.get("status", {}).get("conditions") or []
        ready = [c["status"] for c in conditions if c["type"] == "Ready"]
        state = ready[0] if ready else "Unknown"
        taints = node.get("spec", {}).get("taints") or []
        if state == "True" and any(t["key"] == NOT_READY_TAINT for t in taints):
            state = "Tainted"
        out[node["metadata"]["name"]] = state
    return out


def finish_node(api: client.ApiClient, node: LocalNode) -> None:
    """Set the node's pod CIDR and, on the control plane, the role label the kubelet may not set."""
    body: dict[str, Any] = {"spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]}}
    if node.control_plane:
        body["metadata"] = {"labels": {CONTROL_PLANE_LABEL: ""}}
    path = f"/api/v1/nodes/{node.name}"
    if request(api, "GET", path).get("spec", {}).get("podCIDR"):
        del body["spec"]  # immutable once set
    if body:
        request(api, "PATCH", path, body, "application/merge-patch+json")
