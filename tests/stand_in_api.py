"""A stand-in Kubernetes API server for tests that need one without a cluster (named as such).

A plain HTTP server on loopback answering the few requests kubelab's start and a namespace
fixture make: /version, SelfSubjectAccessReview, the node list, and creating, reading and
deleting namespaces. Real clusters are used by the lab itself (``pytest steps``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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
NODE = {
    "metadata": {"name": "stand-in-worker1"},
    "spec": {},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


class StandInApi(BaseHTTPRequestHandler):
    """Answers as an API server would; ``version_status`` and ``allowed`` set the scene."""

    version_status = 200
    allowed = True
    namespaces: set[str]
    created: list[int]

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str) -> None:
        self._answer(code, {"kind": "Status", "code": code, "reason": reason})

    def _body(self) -> dict[str, object]:
        return dict(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            if self.version_status != 200:
                self._status(self.version_status, "Unauthorized")
            else:
                self._answer(200, VERSION)
        elif path == "/api/v1/nodes":
            self._answer(200, {"kind": "NodeList", "metadata": {}, "items": [NODE]})
        elif path.rsplit("/", 1)[-1] in self.namespaces:
            self._answer(200, {"metadata": {"name": path.rsplit("/", 1)[-1]}})
        elif path.endswith("/serviceaccounts/default") and path.split("/")[4] in self.namespaces:
            self._answer(200, {"metadata": {"name": "default"}})
        else:
            self._status(404, "NotFound")

    def do_POST(self) -> None:
        body = self._body()
        if self.path.endswith("selfsubjectaccessreviews"):
            body["status"] = {"allowed": self.allowed}
        elif self.path.split("?")[0] == "/api/v1/namespaces":
            self.namespaces.add(str(body["metadata"]["name"]))  # type: ignore[index]
            self.created[0] += 1
        self._answer(201, body)

    def do_DELETE(self) -> None:
        self.namespaces.discard(self.path.split("?")[0].rsplit("/", 1)[-1])
        self._answer(200, {"kind": "Status", "status": "Success"})

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class StandIn:
    """A running stand-in: its URL, and the namespaces that exist in it now."""

    url: str
    namespaces: set[str] = field(default_factory=set)

    @property
    def created(self) -> int:
        """How many namespaces were ever created."""
        return self.namespaces_created[0]

    namespaces_created: list[int] = field(default_factory=lambda: [0])


@contextmanager
def serve(version_status: int = 200, allowed: bool = True) -> Iterator[StandIn]:
    """Run a stand-in API server on loopback."""
    stand_in = StandIn("")
    attrs = {
        "version_status": version_status,
        "allowed": allowed,
        "namespaces": stand_in.namespaces,
        "created": stand_in.namespaces_created,
    }
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
