"""The suite's handle on a cluster: one kubeconfig, typed calls, errors that explain themselves."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config, stream, utils
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.http import Answer
from kubelab.waits import MEDIUM, SHORT, wait_until

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubelab"}
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def load_client(kubeconfig: Path, context: str | None = None) -> client.ApiClient:
    """An API client for ``kubeconfig``; a missing or malformed file is a one-line UsageError."""
    if not kubeconfig.is_file():
        raise UsageError(
            f"kubeconfig {kubeconfig} does not exist; pass --kubeconfig or set KUBECONFIG"
        )
    try:
        return config.new_client_from_config(config_file=str(kubeconfig), context=context)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError, yaml.YAMLError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"kubeconfig {kubeconfig} is not usable: {first}") from None


class Kube:
    """API clients made from one kubeconfig, with the cluster-wide questions the lab asks."""

    def __init__(self, api: client.ApiClient, where: str = "") -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.where = where or api.configuration.host

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, context: str | None = None) -> Kube:
        """Build from a kubeconfig file (and optional context)."""
        return cls(load_client(kubeconfig, context))

    def server_version(self) -> str:
        """The API server's gitVersion; one-line errors when unreachable or refusing us."""
        try:
            info = client.VersionApi(self.api).get_code(_request_timeout=10)
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", exc)
            raise EnvironmentProblem(
                f"cannot reach the API server at {self.where}: {reason}; is the cluster running? "
                "(check --kubeconfig/--kube-context, or use --cluster=local)"
            ) from None
        except ApiException as exc:
            raise self._explain(exc, "ask the API server its version") from None
        except ValueError as exc:  # includes the client's model validation errors
            raise EnvironmentProblem(
                f"{self.where} does not answer like a Kubernetes API server: {str(exc).splitlines()[0]}"
            ) from None
        return str(info.git_version)

    def check_access(self) -> str:
        """Prove the credentials work and may create namespaces; return the server version."""
        version = self.server_version()
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb="create", resource="namespaces"
                )
            )
        )
        try:
            result = client.AuthorizationV1Api(self.api).create_self_subject_access_review(review)
        except ApiException as exc:
            raise self._explain(exc, "check permissions") from None
        if not result.status.allowed:
            raise EnvironmentProblem(
                f"the cluster at {self.where} does not allow these credentials to create "
                "namespaces (RBAC); use a kubeconfig whose user may create namespaces"
            )
        return version

    def _explain(self, exc: ApiException, doing: str) -> EnvironmentProblem:
        if exc.status == 401:
            return EnvironmentProblem(
                f"the API server at {self.where} rejected the credentials in the kubeconfig "
                f"(401 Unauthorized) while trying to {doing}; refresh them or pick another --kube-context"
            )
        if exc.status == 403:
            return EnvironmentProblem(
                f"the API server at {self.where} forbids this user to {doing} (403); "
                "use a kubeconfig with more rights"
            )
        return EnvironmentProblem(
            f"the API server at {self.where} failed to {doing}: {exc.status} {exc.reason}"
        )

    def nodes(self) -> list[client.V1Node]:
        """Every node of the cluster."""
        return list(self.core.list_node().items)

    def create_namespace(self, prefix: str = "kubelab", timeout: float = MEDIUM) -> LabNamespace:
        """A new namespace with a random suffix, labelled as kubelab's."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(MANAGED_BY)))
        try:
            self.core.create_namespace(body)
        except ApiException as exc:
            raise self._explain(exc, f"create namespace {name}") from None
        return LabNamespace(self, name, timeout)


def is_ready(node: client.V1Node) -> bool:
    """The node's Ready condition is True."""
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def is_control_plane(node: client.V1Node) -> bool:
    """The node carries a control-plane role label or taint."""
    labels = node.metadata.labels or {}
    taints = [t.key for t in node.spec.taints or []]
    return any(key in labels or key in taints for key in CONTROL_PLANE_TAINTS)


def takes_no_workload(node: client.V1Node) -> bool:
    """Ordinary pods cannot be scheduled on the node (cordoned, or tainted NoSchedule)."""
    taints = node.spec.taints or []
    return bool(node.spec.unschedulable) or any(
        t.effect in ("NoSchedule", "NoExecute") for t in taints
    )


def internal_ip(node: client.V1Node) -> str:
    """The node's InternalIP address."""
    for address in node.status.addresses or []:
        if address.type == "InternalIP":
            return str(address.address)
    raise EnvironmentProblem(f"node {node.metadata.name} reports no InternalIP address")


def pod_ready(pod: client.V1Pod) -> bool:
    """The pod runs and its Ready condition is True."""
    conditions = pod.status.conditions or []
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in conditions
    )


def describe_pods(pods: list[client.V1Pod]) -> str:
    """One line per pod: name, phase, readiness, and why a container waits."""
    if not pods:
        return "no pods"
    parts = []
    for pod in pods:
        waiting = [
            f"{s.name} {s.state.waiting.reason}"
            for s in pod.status.container_statuses or []
            if s.state and s.state.waiting
        ]
        ready = "ready" if pod_ready(pod) else "not ready"
        extra = f" ({', '.join(waiting)})" if waiting else ""
        parts.append(f"{pod.metadata.name} {pod.status.phase} {ready}{extra}")
    return "; ".join(parts)


# Waiting reasons that waiting longer will not cure.
IMAGE_PROBLEMS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
RUN_PROBLEMS = (
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


def image_problem(pods: list[client.V1Pod]) -> str | None:
    """A one-line explanation when a pod's image is missing or its container cannot run, else None."""
    for pod in pods:
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting is None:
                continue
            if waiting.reason in IMAGE_PROBLEMS:
                return (
                    f"image {status.image} of pod {pod.metadata.name} cannot be found on node "
                    f"{pod.spec.node_name} ({waiting.reason}); load it on every node or name another "
                    "with --web-image/--web-image-v2/--redis-image"
                )
            if waiting.reason in RUN_PROBLEMS:
                detail = (waiting.message or "").strip().splitlines()[:1]
                return (
                    f"container {status.name} of pod {pod.metadata.name} cannot run on node "
                    f"{pod.spec.node_name} ({waiting.reason}{': ' + detail[0] if detail else ''}); "
                    "see its log in the diagnostics"
                )
    return None


class LabNamespace:
    """One scenario's namespace: everything the lab creates lives, and dies, here."""

    def __init__(self, kube: Kube, name: str, timeout: float = MEDIUM) -> None:
        self.kube = kube
        self.name = name
        self.timeout = timeout  # the default for waits on pods and controllers

    def __repr__(self) -> str:
        return f"LabNamespace({self.name})"

    def apply(self, manifest: dict[str, Any]) -> None:
        """Create the object described by ``manifest`` in this namespace."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            utils.create_from_dict(self.kube.api, manifest, namespace=self.name)
        except utils.FailToCreateError as exc:
            reasons = "; ".join(f"{e.status} {e.reason}: {_message(e)}" for e in exc.api_exceptions)
            raise EnvironmentProblem(
                f"could not create {kind} {name} in {self.name}: {reasons}"
            ) from None

    def pods(self, selector: str | None = None) -> list[client.V1Pod]:
        """Pods in the namespace, optionally filtered by a label selector."""
        return list(
            self.kube.core.list_namespaced_pod(self.name, label_selector=selector or "").items
        )

    def pod(self, name: str) -> client.V1Pod:
        """The pod called ``name``."""
        return self.kube.core.read_namespaced_pod(name, self.name)

    def wait_for_ready_pods(
        self, selector: str, count: int, timeout: float | None = None
    ) -> list[client.V1Pod]:
        """Wait until exactly ``count`` pods match ``selector`` and are ready (default: ns timeout)."""

        def settled(pods: list[client.V1Pod]) -> bool:
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            return len(live) == count == len(pods) and all(pod_ready(p) for p in pods)

        return wait_until(
            lambda: self.pods(selector),
            settled,
            timeout=timeout or self.timeout,
            what=f"{count} ready pod(s) matching {selector} in {self.name}",
            describe=describe_pods,
            fatal=image_problem,
        )

    def wait_for_pod_ready(self, name: str, timeout: float | None = None) -> client.V1Pod:
        """Wait until pod ``name`` runs and is ready (default: the namespace's timeout)."""
        return wait_until(
            lambda: self.pod(name),
            pod_ready,
            timeout=timeout or self.timeout,
            what=f"pod {name} in {self.name} to be ready",
            describe=lambda pod: describe_pods([pod]),
            fatal=lambda pod: image_problem([pod]),
        )

    def service(self, name: str) -> client.V1Service:
        """The Service called ``name``."""
        return self.kube.core.read_namespaced_service(name, self.name)

    def node_port(self, service: str) -> int:
        """The first NodePort of ``service``."""
        ports = self.service(service).spec.ports or []
        for port in ports:
            if port.node_port:
                return int(port.node_port)
        raise EnvironmentProblem(f"service {service} in {self.name} has no NodePort")

    def wait_for_endpoints(self, service: str, count: int, timeout: float = SHORT) -> list[str]:
        """Wait until ``service`` has ``count`` ready endpoint addresses (default 30 s)."""

        def ready_addresses() -> list[str]:
            slices = client.DiscoveryV1Api(self.kube.api).list_namespaced_endpoint_slice(
                self.name, label_selector=f"kubernetes.io/service-name={service}"
            )
            return sorted(
                addr
                for s in slices.items
                for e in s.endpoints or []
                if e.conditions is None or e.conditions.ready
                for addr in e.addresses
            )

        return wait_until(
            ready_addresses,
            lambda addresses: len(addresses) == count,
            timeout=timeout,
            what=f"{count} ready endpoint(s) behind service {service} in {self.name}",
        )

    def exec(self, pod: str, argv: list[str], timeout: float = 20) -> str:
        """Run ``argv`` in pod ``pod``'s first container and return its output (API server exec)."""
        return str(
            stream.stream(
                self.kube.core.connect_get_namespaced_pod_exec,
                pod,
                self.name,
                command=argv,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _request_timeout=timeout,
            )
        )

    def wait_until_connects(self, pod: str, host: str, port: int, timeout: float = SHORT) -> None:
        """Wait until a TCP connection from inside ``pod`` to ``host:port`` succeeds (default 30 s)."""
        probe = (
            "import socket,sys\n"
            "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close(); print('ok')\n"
            "except OSError as e: print(e)"
        )
        wait_until(
            lambda: self.exec(pod, ["python3", "-c", probe, host, str(port)]).strip(),
            lambda out: out == "ok",
            timeout=timeout,
            what=f"pod {pod} in {self.name} to connect to {host}:{port}",
        )

    def proxy_get(self, pod: str, port: int, path: str = "") -> Answer:
        """GET ``path`` from ``pod:port`` through the API server's pod proxy."""
        via = f"API server pod proxy to {pod}:{port}"
        try:
            body = self.kube.core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod}:{port}", self.name, path, _preload_content=False
            )
        except ApiException as exc:
            headers = exc.headers or {}
            return Answer(
                status=int(exc.status or 0),
                body=exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body or ""),
                version=headers.get("X-App-Version"),
                hostname=headers.get("X-Hostname"),
                via=via,
            )
        return Answer(
            status=int(body.status),
            body=body.data.decode(),
            version=body.headers.get("X-App-Version"),
            hostname=body.headers.get("X-Hostname"),
            via=via,
        )

    def delete(self, kind: str, name: str) -> None:
        """Delete one object of the lab by kind and name (foreground for controllers)."""
        options = client.V1DeleteOptions(propagation_policy="Foreground")
        deleters = {
            "Pod": self.kube.core.delete_namespaced_pod,
            "Service": self.kube.core.delete_namespaced_service,
            "ReplicationController": self.kube.core.delete_namespaced_replication_controller,
            "Deployment": self.kube.apps.delete_namespaced_deployment,
        }
        deleters[kind](name, self.name, body=options)

    def leftovers(self) -> list[str]:
        """Everything of the lab still in the namespace: pods, services, controllers, endpoints."""
        core, apps = self.kube.core, self.kube.apps
        found = [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(self.name).items]
        found += [
            f"service/{s.metadata.name}" for s in core.list_namespaced_service(self.name).items
        ]
        found += [
            f"replicationcontroller/{r.metadata.name}"
            for r in core.list_namespaced_replication_controller(self.name).items
        ]
        found += [
            f"deployment/{d.metadata.name}"
            for d in apps.list_namespaced_deployment(self.name).items
        ]
        found += [
            f"replicaset/{r.metadata.name}"
            for r in apps.list_namespaced_replica_set(self.name).items
        ]
        slices = (
            client.DiscoveryV1Api(self.kube.api).list_namespaced_endpoint_slice(self.name).items
        )
        found += [f"endpointslice/{s.metadata.name}" for s in slices]
        return found

    def request_deletion(self) -> None:
        """Ask for the namespace and everything in it to be deleted (returns at once)."""
        try:
            self.kube.core.delete_namespace(self.name)
        except ApiException as exc:
            if exc.status != 404:
                raise


def wait_until_deleted(kube: Kube, names: list[str], timeout: float) -> None:
    """Wait until none of the namespaces ``names`` exists any more."""
    wait_until(
        lambda: [name for name in names if _exists(kube, name)],
        lambda left: not left,
        timeout=timeout,
        what=f"the run's {len(names)} namespace(s) to be deleted",
    )


def _exists(kube: Kube, namespace: str) -> bool:
    try:
        kube.core.read_namespace(namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError):
        return str(exc.body)
