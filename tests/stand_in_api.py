"""A stand-in Kubernetes API server for tests that need one without a cluster (named as such).

A plain HTTP server on loopback answering the few requests kubelab's start and a namespace
fixture make: /version, discovery, SelfSubjectAccessReview, the node list, and creating, reading
and deleting namespaces; and listing any namespaced kind a test put in its ``objects``, filtered
by an equality label selector; the pods of a node (``spec.nodeName``) in every namespace, and
their eviction, which a PodDisruptionBudget may refuse (429) as a test sets it. Real clusters
are used by the lab itself (``pytest steps``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubelab.names import REDIS_IMAGE, WEB_V1_IMAGE, WEB_V2_IMAGE

VERSION = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.4",
    "gitCommit": "",
    "gitTreeState": "",
    "buildDate": "",
    "goVersion": "",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _resource(name: str, kind: str, namespaced: bool) -> dict[str, object]:
    verbs = ["create", "delete", "get", "list", "patch", "watch"]
    return {
        "name": name,
        "singularName": "",
        "namespaced": namespaced,
        "kind": kind,
        "verbs": verbs,
    }


# Discovery, as the dynamic client asks it: the core group's kinds the stand-in serves, no groups.
CORE_RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        _resource("namespaces", "Namespace", False),
        _resource("nodes", "Node", False),
        _resource("pods", "Pod", True),
        _resource("services", "Service", True),
        _resource("serviceaccounts", "ServiceAccount", True),
        _resource("configmaps", "ConfigMap", True),
        _resource("events", "Event", True),
        _resource("replicationcontrollers", "ReplicationController", True),
    ],
}
# The groups' kinds kubelab asks for: group/version -> [(resource, kind)], all namespaced.
GROUP_RESOURCES = {
    "apps/v1": [("deployments", "Deployment"), ("replicasets", "ReplicaSet")],
    "discovery.k8s.io/v1": [("endpointslices", "EndpointSlice")],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget")],
}
GROUPS = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": gv.split("/")[0],
            "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
            "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
        }
        for gv in GROUP_RESOURCES
    ],
}


def discovery(path: str) -> dict[str, object] | None:
    """What the API server answers at a discovery ``path`` (the dynamic client's first asks)."""
    groups = {
        f"/apis/{gv}": {
            "kind": "APIResourceList",
            "groupVersion": gv,
            "resources": [_resource(name, kind, True) for name, kind in kinds],
        }
        for gv, kinds in GROUP_RESOURCES.items()
    }
    return {"/version": VERSION, "/api/v1": CORE_RESOURCES, "/apis": GROUPS, **groups}.get(path)


# A worker that has the lab's images (loaded on it, as kubelab's own clusters do).
LAB_IMAGES = [{"names": [REDIS_IMAGE]}, {"names": [WEB_V1_IMAGE]}, {"names": [WEB_V2_IMAGE]}]
NODE = {
    "metadata": {"name": "stand-in-worker1"},
    "spec": {},
    "status": {"conditions": [{"type": "Ready", "status": "True"}], "images": LAB_IMAGES},
}


class StandInApi(BaseHTTPRequestHandler):
    """Answers as an API server would; ``version_status`` and ``allowed`` set the scene.

    Objects are kept by their path (``/api/v1/namespaces/x``, ``.../x/services/web``); every
    namespace has its default ServiceAccount; deleting a namespace deletes what is in it.
    """

    version_status = 200
    allowed = True
    store: StandIn

    def _answer(self, status: int, body: dict[str, object]) -> None:
        self.store.asked.append(f"{self.command} {self.path}")
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str) -> None:
        self._answer(code, {"kind": "Status", "code": code, "reason": reason})

    def _path(self) -> str:
        return self.path.split("?")[0].rstrip("/")

    def do_GET(self) -> None:
        path = self._path()
        parts = path.split("/")
        if path == "/version" and self.version_status != 200:
            self._status(self.version_status, "Unauthorized")
        elif path == "/version":
            self._answer(200, self.store.version)
        elif (found := discovery(path)) is not None:
            self._answer(200, found)
        elif path in ("/api/v1/nodes", "/api/v1/pods"):
            items = self.store.nodes if path.endswith("nodes") else self._pods_on_node()
            self._answer(200, {"kind": "List", "metadata": {}, "items": items})
        elif path.endswith("/serviceaccounts/default") and parts[4] in self.store.namespaces:
            self._answer(200, {"metadata": {"name": "default"}})
        elif path in self.store.objects:
            self._answer(200, self.store.objects[path])
        elif "watch=true" in self.path:
            self._end_of_watch()
        elif path == "/api/v1/namespaces":
            items = [self.store.objects[f"{path}/{name}"] for name in sorted(self.store.namespaces)]
            self._answer(
                200, {"kind": "NamespaceList", "metadata": {"resourceVersion": "1"}, "items": items}
            )
        elif len(parts) == {"api": 6, "apis": 7}.get(parts[1]):  # .../namespaces/<ns>/<kind>
            self._answer(
                200,
                {"kind": "List", "metadata": {"resourceVersion": "1"}, "items": self._listed(path)},
            )
        else:
            self._status(404, "NotFound")

    def _listed(self, path: str) -> list[dict[str, Any]]:
        """The objects under the collection ``path`` whose labels the query's selector matches."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        wanted = dict(
            term.split("=", 1) for term in query.get("labelSelector", [""])[0].split(",") if term
        )
        return [
            obj
            for key, obj in sorted(self.store.objects.items())
            if key.rpartition("/")[0] == path
            and wanted.items() <= (obj["metadata"].get("labels") or {}).items()
        ]

    def _pods_on_node(self) -> list[dict[str, Any]]:
        """Every pod, in every namespace, on the node the query's ``spec.nodeName=`` names."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        node = query.get("fieldSelector", [""])[0].removeprefix("spec.nodeName=")
        return [
            obj
            for key, obj in sorted(self.store.objects.items())
            if key.rpartition("/")[0].endswith("/pods") and obj["spec"].get("nodeName") == node
        ]

    def _evict(self, pod: str) -> None:
        """The eviction of the pod at ``pod``: refused (429) while the test's ``refusals`` for it
        last, as a PodDisruptionBudget refuses one; then the pod is deleted."""
        self.store.evictions.append(pod)
        if self.store.refusals.get(pod, 0) > 0:
            self.store.refusals[pod] -= 1
            self._status(429, "TooManyRequests")
        elif self.store.objects.pop(pod, None) is None:
            self._status(404, "NotFound")
        else:
            self._answer(201, {"kind": "Status", "status": "Success"})

    def _end_of_watch(self) -> None:
        """A watch that sees no change, held a moment, then ended as by the server's timeout."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        time.sleep(0.5)
        self.wfile.write(b"0\r\n\r\n")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        path = self._path()
        if path.endswith("/eviction"):
            self._evict(path.removesuffix("/eviction"))
            return
        if path.endswith("selfsubjectaccessreviews"):
            body["status"] = {"allowed": self.allowed}
        else:
            body["metadata"]["resourceVersion"] = "1"
            self.store.objects[f"{path}/{body['metadata']['name']}"] = body
            self.store.posted.append(f"{path}/{body['metadata']['name']}")
        self._answer(201, body)

    def do_DELETE(self) -> None:
        path = self._path()
        deleted = self.store.objects.get(path)
        for key in [k for k in self.store.objects if k == path or k.startswith(path + "/")]:
            del self.store.objects[key]
        if deleted is None:
            self._status(404, "NotFound")
        else:
            self._answer(200, deleted)  # the object, as the API answers a deletion

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class StandIn:
    """A running stand-in: its URL, the objects in it now, every path ever created, and every
    request it answered."""

    url: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # every request answered, in order
    version: dict[str, str] = field(default_factory=lambda: dict(VERSION))  # /version's answer
    nodes: list[dict[str, Any]] = field(default_factory=lambda: [NODE])  # the node list
    refusals: dict[str, int] = field(default_factory=dict)  # pod path -> evictions to refuse
    evictions: list[str] = field(default_factory=list)  # each eviction asked, by pod path

    @property
    def namespaces(self) -> set[str]:
        """The namespaces that exist now."""
        prefix = "/api/v1/namespaces/"
        return {
            k.removeprefix(prefix)
            for k in self.objects
            if k.count("/") == 4 and k.startswith(prefix)
        }

    @property
    def created(self) -> int:
        """How many namespaces were ever created."""
        return sum(
            1 for k in self.posted if k.count("/") == 4 and k.startswith("/api/v1/namespaces/")
        )


@contextmanager
def serve(version_status: int = 200, allowed: bool = True) -> Iterator[StandIn]:
    """Run a stand-in API server on loopback."""
    stand_in = StandIn()
    attrs = {"version_status": version_status, "allowed": allowed, "store": stand_in}
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (StandInApi,), attrs))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(tmp_path: Path, server: str) -> Path:
    """A kubeconfig naming ``server`` with a token."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "not-a-valid-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path
