"""Fixtures for kubelab's own tests: a real redis-server and the app under gunicorn; and the day
on which the tests judge a Kubernetes release's end of life."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from kubelab import releases
from kubelab.hostpkgs import ensure_programs
from kubelab.waits import SHORT, wait_until

APP_DIR = Path(__file__).resolve().parents[1] / "app"
pytest_plugins = ["pytester"]


@pytest.hookimpl(tryfirst=True)  # before kubelab's plugin checks --k8s-version
def pytest_configure(config: pytest.Config) -> None:
    """Judge end of life, in this process and in every command the tests start, on the day
    before the first one in kubelab's release table, when each release in it is supported: the
    suite passes on any calendar day, and moves with the table. Set at configure time, before
    the collection, where parametrize lists already ask which releases are supported."""
    first = min(r.end_of_life for r in releases.RELEASES)
    os.environ[releases.TEST_TODAY] = (first - timedelta(days=1)).isoformat()


def _network_namespaces() -> set[str]:
    """The host's named network namespaces but the default local cluster's (which a developer's
    own `kubelab local up` may start or stop while the unit tests run)."""
    root = Path("/run/netns")
    names = {p.name for p in root.iterdir()} if root.is_dir() else set()
    return {n for n in names if not n.startswith("kubelab-")}


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_on_the_host() -> Iterator[None]:
    """kubelab's own tests make no cluster: a test whose stand-ins let a boot through (it made a
    cluster's network namespaces once) fails the run here rather than leaving them behind."""
    before = _network_namespaces()
    yield
    made = sorted(_network_namespaces() - before)
    assert not made, f"the unit tests left network namespaces on the host: {', '.join(made)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real redis-server (Debian's) on loopback, stopped after the session."""
    ensure_programs({"redis-server": "redis-server"}, "the app's unit tests (a real Redis)")
    server = str(shutil.which("redis-server"))
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "local",
        ],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(),
            lambda _: True,
            timeout=SHORT,
            what=f"redis-server on port {port}",
        )
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Served:
    """A running gunicorn serving the app."""

    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture
def serve_app(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start the app under gunicorn (its real config) with an environment."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> Served:
        port = free_port()
        conf = tmp_path / f"gunicorn-{port}.conf.py"
        conf.write_text(
            (APP_DIR / "gunicorn.conf.py").read_text().replace("0.0.0.0:5000", f"127.0.0.1:{port}")
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(conf), "app:app"],
            cwd=APP_DIR,
            env={**os.environ, **env},
            stderr=(tmp_path / f"gunicorn-{port}.log").open("wb"),
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: requests.get(f"{url}/healthz", timeout=1),
            lambda r: r.status_code == 200,
            timeout=SHORT,
            what=f"gunicorn on port {port}",
        )
        return Served(url, proc)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)
