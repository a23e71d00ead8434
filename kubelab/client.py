"""kubelab's client layer: every call to a cluster's API goes through ``Kube``.

One kubeconfig, one bounded request timeout, objects addressed by kind and name, and errors
that explain themselves (``explain``) or say whether waiting could cure them (``is_transient``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config, dynamic, stream, utils
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.dynamic.discovery import LazyDiscoverer

from kubelab.errors import EnvironmentProblem, UsageError
from kubelab.names import MANAGED_BY
from kubelab.waits import SHORT
from kubelab.watching import Follower

# The group/version kubelab speaks for each kind it addresses by name; the kind alone can be
# ambiguous (Event is in the core group and in events.k8s.io). The dynamic client finds the rest
# (path, scope, subresources) by discovery.
API_VERSIONS = {
    "Namespace": "v1",
    "Node": "v1",
    "Pod": "v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "ServiceAccount": "v1",
    "Event": "v1",
    "ReplicationController": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "EndpointSlice": "discovery.k8s.io/v1",
}


NO_FILE = "/dev/null/kubelab-discovery"  # a path that never exists: nothing is read from a file


class MemoryDiscoverer(LazyDiscoverer):
    """The dynamic client's lazy discovery, kept in memory for the client's life: a cluster's API
    is discovered once per run, and no file is left behind for another run to read."""

    def _write_cache(self) -> None:
        pass


# Kinds whose model name carries their group, as two groups define them (core's Event).
MODEL_NAMES = {"Event": "CoreV1Event"}


def model(kind: str, suffix: str = "") -> Any:
    """The client's model class for ``kind`` (``suffix="List"``: for a list of them)."""
    version = API_VERSIONS[kind].rsplit("/", 1)[-1]
    return getattr(client, MODEL_NAMES.get(kind, f"{version.capitalize()}{kind}") + suffix)


# What a call to the API can raise when the cluster, not kubelab, is the problem.
API_ERRORS = (ApiException, urllib3.exceptions.HTTPError, ConfigException, OSError, ValueError)


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


def api_message(exc: ApiException) -> str:
    """The ``message`` of an API error's Status body, else the body itself."""
    try:
        return str(json.loads(exc.body).get("message", exc.body))
    except (TypeError, ValueError, AttributeError):
        return str(exc.body)


class Kube:
    """API access made from one kubeconfig: objects by kind, exec, proxy, watch, logs."""

    def __init__(self, api: client.ApiClient, where: str = "") -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.where = where or api.configuration.host
        self._dynamic: dynamic.DynamicClient | None = None
        self._resources: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, context: str | None = None) -> Kube:
        """Build from a kubeconfig file (and optional context)."""
        return cls(load_client(kubeconfig, context))

    # ---- reaching the cluster ------------------------------------------------------------

    def server_version(self) -> str:
        """The API server's gitVersion; one-line errors when unreachable or refusing us."""
        try:
            info = client.VersionApi(self.api).get_code(_request_timeout=SHORT)
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", exc)
            raise EnvironmentProblem(
                f"cannot reach the API server at {self.where}: {reason}; is the cluster running? "
                "(check --kubeconfig/--kube-context, or use --cluster=local)"
            ) from None
        except ApiException as exc:
            raise self.explain(exc, "ask the API server its version") from None
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
            result = client.AuthorizationV1Api(self.api).create_self_subject_access_review(
                review, _request_timeout=SHORT
            )
        except ApiException as exc:
            raise self.explain(exc, "check permissions") from None
        if not result.status.allowed:
            raise EnvironmentProblem(
                f"the cluster at {self.where} does not allow these credentials to create "
                "namespaces (RBAC); use a kubeconfig whose user may create namespaces"
            )
        return version

    def explain(self, exc: ApiException, doing: str) -> EnvironmentProblem:
        """A one-line EnvironmentProblem for an API error met while ``doing`` something."""
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

    # ---- objects by kind -----------------------------------------------------------------

    def resource(self, kind: str) -> Any:
        """The dynamic client's resource for ``kind``, discovered on first use."""
        with self._lock:  # make-ahead threads ask at once; discovery is asked once
            if kind not in self._resources:
                if self._dynamic is None:
                    self._dynamic = dynamic.DynamicClient(
                        self.api, cache_file=NO_FILE, discoverer=MemoryDiscoverer
                    )
                self._resources[kind] = self._dynamic.resources.get(
                    api_version=API_VERSIONS[kind], kind=kind
                )
            return self._resources[kind]

    def _request(self, verb: str, resource: Any, answer: Any = None, **kwargs: Any) -> Any:
        """``verb`` on a dynamic ``resource``; the answer as the model class ``answer``, if any."""
        response = getattr(resource, verb)(serialize=False, _request_timeout=SHORT, **kwargs)
        return None if answer is None else answer.from_dict(json.loads(response.data))

    def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        """The object, or None when it does not exist."""
        try:
            return self._request(
                "get", self.resource(kind), model(kind), name=name, namespace=namespace
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def objects(self, kind: str, namespace: str | None = None, selector: str = "") -> list[Any]:
        """Every object of ``kind`` (in ``namespace``), optionally filtered by a label selector."""
        listing = self._request(
            "get",
            self.resource(kind),
            model(kind, "List"),
            namespace=namespace,
            label_selector=selector,
        )
        return list(listing.items)

    def create(self, kind: str, body: Any, namespace: str | None = None) -> Any:
        """Create an object of ``kind`` from ``body`` (a model or a dict)."""
        return self._request(
            "create",
            self.resource(kind),
            model(kind),
            body=self.serialize(body),
            namespace=namespace,
        )

    def patch(self, kind: str, name: str, body: Any, namespace: str | None = None) -> Any:
        """Patch an object (strategic merge for built-in kinds)."""
        return self._request(
            "patch",
            self.resource(kind),
            model(kind),
            body=self.serialize(body),
            name=name,
            namespace=namespace,
        )

    def delete(
        self, kind: str, name: str, namespace: str | None = None, propagation: str | None = None
    ) -> bool:
        """Ask for an object's deletion; False when it did not exist."""
        try:
            self._request(
                "delete",
                self.resource(kind),
                name=name,
                namespace=namespace,
                propagation_policy=propagation,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete_pods(self, namespace: str, grace_period: int) -> None:
        """Delete every pod in ``namespace`` with a grace period of ``grace_period`` seconds."""
        try:
            self.core.delete_collection_namespaced_pod(
                namespace, grace_period_seconds=grace_period, _request_timeout=SHORT
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def scale(self, kind: str, name: str, namespace: str, replicas: int) -> None:
        """Set a controller's replicas through its scale subresource."""
        scale = self.resource(kind).subresources["scale"]
        self._request(
            "patch", scale, body={"spec": {"replicas": replicas}}, name=name, namespace=namespace
        )

    def create_from_manifest(self, manifest: dict[str, Any], namespace: str) -> None:
        """Create the object a manifest describes; an API refusal is a one-line EnvironmentProblem."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        try:
            utils.create_from_dict(self.api, manifest, namespace=namespace)
        except utils.FailToCreateError as exc:
            reasons = "; ".join(
                f"{e.status} {e.reason}: {api_message(e)}" for e in exc.api_exceptions
            )
            raise EnvironmentProblem(
                f"could not create {kind} {name} in {namespace}: {reasons}"
            ) from None

    def create_namespace(self, name: str) -> None:
        """Create namespace ``name``, labelled as kubelab's."""
        body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=dict(MANAGED_BY)))
        try:
            self.create("Namespace", body)
        except ApiException as exc:
            raise self.explain(exc, f"create namespace {name}") from None

    def nodes(self) -> list[client.V1Node]:
        """Every node of the cluster."""
        return self.objects("Node")

    def serialize(self, obj: Any) -> Any:
        """A model object as the plain dict the API would send."""
        return self.api.sanitize_for_serialization(obj)

    # ---- pods: exec, proxy, logs, watch -------------------------------------------------

    def exec(self, namespace: str, pod: str, argv: list[str], timeout: float) -> str:
        """Run ``argv`` in the pod's first container (API server exec); return its output."""
        # stream() swaps its client's request method for a websocket's while it runs: a client
        # of its own keeps other threads' calls (a pod watch, a namespace made ahead) on HTTP.
        core = client.CoreV1Api(client.ApiClient(self.api.configuration))
        return str(
            stream.stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _request_timeout=timeout,
            )
        )

    def proxy_get(
        self, namespace: str, pod: str, port: int, path: str = ""
    ) -> tuple[int, str, dict[str, str]]:
        """GET ``path`` from ``pod:port`` through the API server's pod proxy: status, body, headers."""
        try:
            response = self.core.connect_get_namespaced_pod_proxy_with_path(
                f"{pod}:{port}",
                namespace,
                path,
                _preload_content=False,
                _request_timeout=SHORT,
            )
        except ApiException as exc:
            body = exc.body.decode() if isinstance(exc.body, bytes) else str(exc.body or "")
            return int(exc.status or 0), body, dict(exc.headers or {})
        return int(response.status), response.data.decode(), dict(response.headers)

    def pod_log(self, namespace: str, pod: str, container: str, tail: int) -> str:
        """The last ``tail`` lines of a container's log."""
        return str(
            self.core.read_namespaced_pod_log(
                pod, namespace, container=container, tail_lines=tail, _request_timeout=SHORT
            )
        )

    def lister(self, kind: str) -> Callable[..., Any]:
        """A list call for ``kind`` whose answer is the client's typed list, and whose return
        annotation names it: a watch of it (``watch=True``) yields typed objects."""
        resource, listing = self.resource(kind), model(kind, "List")

        def list_objects(**kwargs: Any) -> Any:
            response = resource.get(serialize=False, **kwargs)
            if kwargs.get("watch"):
                return response  # the watch reads its events as they come
            return listing.from_dict(json.loads(response.data))

        list_objects.__annotations__["return"] = listing
        return list_objects

    def follower(
        self, kind: str, namespace: str | None = None, selector: str = "", name: str = ""
    ) -> Follower:
        """A list-then-watch of ``kind`` (in ``namespace``; by label ``selector``, or one ``name``)."""
        kwargs: dict[str, Any] = {"label_selector": selector}
        if namespace is not None:
            kwargs["namespace"] = namespace
        if name:
            kwargs["field_selector"] = f"metadata.name={name}"
        return Follower(self.lister(kind), **kwargs)
