"""Probes from inside a pod, through the API server: exec, a TCP connect, a GET by pod proxy."""

from __future__ import annotations

from kubelab.http import Answer, answer
from kubelab.namespace import LabNamespace
from kubelab.waits import SHORT, wait_until

CONNECT = (
    "import socket,sys\n"
    "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close(); print('ok')\n"
    "except OSError as e: print(e)"
)

RESOLVE = (
    "import socket,sys\n"
    "try: print(*sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None, socket.AF_INET)}))\n"
    "except OSError as e: print('error:', e)"
)


def exec_in(ns: LabNamespace, pod: str, argv: list[str], timeout: float = 20) -> str:
    """Run ``argv`` in pod ``pod``'s first container and return its output (API server exec)."""
    return ns.kube.exec(ns.name, pod, argv, timeout)


def wait_until_connects(
    ns: LabNamespace, pod: str, host: str, port: int, timeout: float = SHORT
) -> None:
    """Wait until a TCP connection from inside ``pod`` to ``host:port`` succeeds (default 30 s)."""
    wait_until(
        lambda: exec_in(ns, pod, ["python3", "-c", CONNECT, host, str(port)]).strip(),
        lambda out: out == "ok",
        timeout=timeout,
        what=f"pod {pod} in {ns.name} to connect to {host}:{port}",
        interval=0.1,  # each attempt is an exec, itself a round trip through the API server
    )


def resolve(ns: LabNamespace, pod: str, host: str) -> list[str]:
    """The IPv4 addresses ``host`` resolves to inside ``pod`` (["error:", ...] when it does not)."""
    return exec_in(ns, pod, ["python3", "-c", RESOLVE, host]).split()


def proxy_get(ns: LabNamespace, pod: str, port: int, path: str = "") -> Answer:
    """GET ``path`` from ``pod:port`` through the API server's pod proxy."""
    status, body, headers = ns.kube.proxy_get(ns.name, pod, port, path)
    return answer(status, body, headers, via=f"API server pod proxy to {pod}:{port}")
