"""Bad input and bad environments end the lab run before any scenario: one line, the fix, exit != 0.

The 401 and 403 cases need an API server that refuses us; ``FakeApiServer`` is a stand-in (a
plain HTTP server on loopback answering just /version and SelfSubjectAccessReview), named so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "steps", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": "", **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error the run ended with; also checks that no traceback and no scenario came first."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert re.search(r"\d+ (passed|failed|error)", output) is None, output
    lines = [
        line
        for line in output.splitlines()
        if "kubelab:" in line or line.startswith(("ERROR", "pytest: error"))
    ]
    assert lines, output
    return lines[0]


def kubeconfig(tmp_path: Path, server: str) -> Path:
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


class FakeApiServer(BaseHTTPRequestHandler):
    """A stand-in API server: /version answers ``version_status``; namespace creation is denied."""

    version_status = 200

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.version_status != 200:
            self._answer(
                self.version_status,
                {"kind": "Status", "code": self.version_status, "reason": "Unauthorized"},
            )
        else:
            version = {
                "major": "1",
                "minor": "34",
                "gitVersion": "v1.34.4",
                "gitCommit": "",
                "gitTreeState": "",
            }
            version |= {
                "buildDate": "",
                "goVersion": "",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
            self._answer(200, version)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        review = json.loads(self.rfile.read(length))
        review["status"] = {"allowed": False}
        self._answer(201, review)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (FakeApiServer,), {"version_status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_unknown_cluster_value():
    result = run_lab("--cluster=vagrant")
    assert result.returncode == 4
    assert (
        one_line_error(result)
        == "ERROR: --cluster=vagrant is not one of auto, kind, local, existing"
    )


def test_missing_kubeconfig(tmp_path):
    result = run_lab("--cluster=existing", f"--kubeconfig={tmp_path / 'nope'}")
    assert result.returncode == 2
    assert one_line_error(result).endswith(
        f"kubeconfig {tmp_path / 'nope'} does not exist; pass --kubeconfig or set KUBECONFIG !"
    )


def test_malformed_kubeconfig(tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("clusters: [this is not: a kubeconfig\n")
    result = run_lab("--cluster=existing", f"--kubeconfig={bad}")
    assert result.returncode == 2
    assert f"kubeconfig {bad} is not usable" in one_line_error(result)


def test_unreachable_api_server(tmp_path):
    result = run_lab(
        "--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, 'https://127.0.0.1:9')}"
    )
    assert result.returncode == 2
    assert "cannot reach the API server at https://127.0.0.1:9" in one_line_error(result)


@pytest.mark.parametrize("fake_api", [401], indirect=True)
def test_rejected_credentials(tmp_path, fake_api):
    result = run_lab("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, fake_api)}")
    assert result.returncode == 2
    assert "rejected the credentials in the kubeconfig (401 Unauthorized)" in one_line_error(result)


@pytest.mark.parametrize("fake_api", [200], indirect=True)
def test_rbac_forbids_namespace_creation(tmp_path, fake_api):
    result = run_lab("--cluster=existing", f"--kubeconfig={kubeconfig(tmp_path, fake_api)}")
    assert result.returncode == 2
    assert "does not allow these credentials to create namespaces (RBAC)" in one_line_error(result)


def test_kind_without_docker(monkeypatch):
    result = run_lab(
        "--cluster=kind",
        env={"PATH": "/usr/bin:/bin"} if os.path.exists("/usr/local/bin/docker") else None,
    )
    assert result.returncode == 2
    assert "--cluster=kind needs a Docker engine and none answers" in one_line_error(result)


def test_local_without_root(tmp_path):
    # Stand-in for a non-root user: a plugin that makes os.geteuid() answer 1000 in the run
    # (a real unprivileged user cannot use this machine's root-owned Python).
    (tmp_path / "pretend_not_root.py").write_text("import os\nos.geteuid = lambda: 1000\n")
    result = run_lab("--cluster=local", "-p", "pretend_not_root", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert (
        "--cluster=local runs Kubernetes as processes on this host and needs Linux and root"
        in one_line_error(result)
    )


def test_wait_timeout_shorter_than_any_step():
    result = run_lab("--wait-timeout=2")
    assert result.returncode == 4
    assert "--wait-timeout=2 is shorter than a pod can ever take" in one_line_error(result)
