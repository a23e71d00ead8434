"""Watch-based waits end with the event that makes them true, and a stop ends a follow at once.

Against a stand-in API server (named as such: a plain HTTP server on loopback that lists pods
and streams watch events, then holds the connection open as a real server does until its
timeout), through the real Kubernetes client.
"""

from __future__ import annotations

import errno
import functools
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubelab.errors import WaitTimeout
from kubelab.waits import wait_until
from kubelab.watching import Follower, watch_until
from tests.stand_in_api import discovery


def _pod(name: str, ready: bool, version: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version)},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


RC = {
    "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
    "spec": {"replicas": 1, "selector": {"app": "web"}},
    "status": {"replicas": 1},
}


class StandInWatchApi(BaseHTTPRequestHandler):
    """Lists one unready pod (and, asked for ReplicationControllers, the RC web); a watch sends the events of ``events`` after ``delay`` s, then
    stays open (``hold`` s) like a real watch before the server's timeout."""

    events: ClassVar[list[dict[str, Any]]] = []
    delay = 0.3
    hold = 30.0
    watches = 0
    failures: ClassVar[list[int]] = []  # statuses the next lists answer with

    def log_message(self, *_: object) -> None:
        pass

    def _discovery(self) -> bool:
        body = discovery(self.path.split("?")[0])
        if body is None:
            return False
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def do_GET(self) -> None:
        if self._discovery():
            return
        if "watch=true" not in self.path and self.failures:
            status = type(self).failures.pop(0)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "watch=true" not in self.path:
            listing = (
                {"kind": "ReplicationControllerList", "items": [RC]}
                if "/replicationcontrollers" in self.path
                else {"kind": "PodList", "items": [_pod("a", False, 1)]}
            )
            body = json.dumps({**listing, "metadata": {"resourceVersion": "1"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        type(self).watches += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        time.sleep(self.delay)
        for event in self.events:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        time.sleep(self.hold)
        self.wfile.write(b"0\r\n\r\n")  # the server's timeout: the watch ends cleanly


@pytest.fixture
def core() -> Iterator[client.CoreV1Api]:
    StandInWatchApi.watches = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInWatchApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
    yield client.CoreV1Api(client.ApiClient(config))
    server.shutdown()


def _ready(pods: list[client.V1Pod]) -> bool:
    return bool(pods) and all(c.status == "True" for p in pods for c in p.status.conditions)


def test_watch_until_returns_with_the_event_that_makes_it_true(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        StandInWatchApi, "events", [{"type": "MODIFIED", "object": _pod("a", True, 2)}]
    )
    started = time.monotonic()
    pods = watch_until(
        Follower(core.list_namespaced_pod, namespace="ns"), _ready, timeout=20, what="pod a ready"
    )
    # The event came after 0.3 s; the watch stayed open for 30 s more.
    assert [p.metadata.name for p in pods] == ["a"]
    assert time.monotonic() - started < 3


def test_watch_until_times_out_naming_what_it_saw(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInWatchApi, "events", [])
    monkeypatch.setattr(StandInWatchApi, "hold", 0.5)  # the server ends each watch early
    with pytest.raises(
        WaitTimeout, match=r"pod a ready: not reached within 0:00:02; last seen: 1 pod"
    ):
        watch_until(
            Follower(core.list_namespaced_pod, namespace="ns"),
            _ready,
            timeout=2,
            what="pod a ready",
            describe=lambda pods: f"{len(pods)} pod",
        )
    assert StandInWatchApi.watches >= 2  # watched again after each end, until the deadline


def test_stop_ends_a_follow_that_waits_for_its_next_event(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInWatchApi, "events", [])
    follower = Follower(core.list_namespaced_pod, namespace="ns")
    seen: list[int] = []
    thread = threading.Thread(
        target=lambda: seen.extend(len(s) for s in follower.changes(time.monotonic() + 60))
    )
    thread.start()
    time.sleep(1.0)  # the watch is open and idle
    stopped = time.monotonic()
    follower.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped < 1
    assert seen[0] == 1


def test_pod_watch_sees_when_the_last_old_pod_exits(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab.client import Kube
    from kubelab.namespace import LabNamespace
    from kubelab.podwatch import PodWatch

    monkeypatch.setattr(
        StandInWatchApi,
        "events",
        [
            {"type": "ADDED", "object": _pod("b", True, 2)},
            {"type": "DELETED", "object": _pod("a", False, 3)},
        ],
    )
    watch = PodWatch(LabNamespace(Kube(core.api_client), "ns"), "app=web")
    watch.start()
    assert watch.old == {"a"}
    before = time.time()
    exited = watch.wait_until_old_pods_exit(timeout=10)
    counts = watch.stop()
    assert before <= exited <= time.time()
    assert [(c.running, c.available) for c in counts] == [(1, 0), (2, 1), (1, 1)]


def test_pod_watch_names_the_old_pods_that_did_not_exit(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab.client import Kube
    from kubelab.namespace import LabNamespace
    from kubelab.podwatch import PodWatch

    monkeypatch.setattr(
        StandInWatchApi, "events", [{"type": "ADDED", "object": _pod("b", True, 2)}]
    )
    watch = PodWatch(LabNamespace(Kube(core.api_client), "ns"), "app=web")
    watch.start()
    with pytest.raises(WaitTimeout, match=r"old web pods in ns to exit.*left: \['a'\]"):
        watch.wait_until_old_pods_exit(timeout=1)
    started = time.monotonic()
    watch.stop()
    assert time.monotonic() - started < 1  # at once, though the watch waits for its next event


def test_the_run_waits_until_each_of_its_namespaces_is_gone(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab.client import Kube
    from kubelab.namespace import wait_until_deleted

    # The stand-in lists one object, "a", whatever the kind; then "a" goes.
    monkeypatch.setattr(
        StandInWatchApi, "events", [{"type": "DELETED", "object": _pod("a", False, 2)}]
    )
    started = time.monotonic()
    wait_until_deleted(Kube(core.api_client), ["a"], timeout=10)
    assert time.monotonic() - started < 3
    monkeypatch.setattr(StandInWatchApi, "events", [])
    monkeypatch.setattr(StandInWatchApi, "hold", 0.3)
    with pytest.raises(WaitTimeout, match="left: a"):
        wait_until_deleted(Kube(core.api_client), ["a", "b"], timeout=1)


def test_a_transient_api_error_is_listed_again(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInWatchApi, "failures", [503, 429])
    monkeypatch.setattr(
        StandInWatchApi, "events", [{"type": "MODIFIED", "object": _pod("a", True, 2)}]
    )
    follower = Follower(core.list_namespaced_pod, namespace="ns")
    pods = watch_until(follower, _ready, timeout=20, what="pod a ready")
    assert [p.metadata.name for p in pods] == ["a"]
    assert getattr(follower.last_error, "status", None) == 429


def test_an_api_refusal_ends_the_watch_at_once(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInWatchApi, "failures", [403])
    with pytest.raises(ApiException) as caught:
        watch_until(
            Follower(core.list_namespaced_pod, namespace="ns"), _ready, timeout=20, what="x"
        )
    assert caught.value.status == 403


def _capturing(list_call: Any, responses: list[Any]) -> Any:
    """``list_call`` that keeps each watch's HTTP response in ``responses``."""

    @functools.wraps(list_call)
    def call(*args: Any, **kwargs: Any) -> Any:
        response = list_call(*args, **kwargs)
        if kwargs.get("watch"):
            responses.append(response)
        return response

    return call


def test_a_stop_while_the_watch_tears_its_connection_down_is_quiet(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second stop() (another thread's) that comes while urllib3 closes the connection the
    first stop() broke, before it hands it back: the socket is closed already (EBADF from a
    shutdown, as one of 13 lab runs met it)."""
    monkeypatch.setattr(StandInWatchApi, "events", [])
    responses: list[Any] = []
    follower = Follower(_capturing(core.list_namespaced_pod, responses), namespace="ns")
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            for _ in follower.changes(time.monotonic() + 60):
                pass
        except Exception as exc:  # noqa: BLE001  (the test reports whatever the follow raised)
            errors.append(exc)

    thread = threading.Thread(target=follow)
    thread.start()
    wait_until(lambda: list(responses), bool, timeout=10, what="the watch to open")
    response = responses[0]
    release = response.release_conn

    def stop_again_then_release() -> None:  # urllib3 calls it after closing the connection
        try:
            follower.stop()
        except Exception as exc:  # noqa: BLE001  (the test reports what the stop raised)
            errors.append(exc)
        release()

    monkeypatch.setattr(response, "release_conn", stop_again_then_release)
    time.sleep(0.5)  # the watch is open and idle
    follower.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert errors == []


def test_stops_from_many_threads_at_once_end_the_follow_quietly(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(StandInWatchApi, "events", [])
    follower = Follower(core.list_namespaced_pod, namespace="ns")
    thread = threading.Thread(target=lambda: list(follower.changes(time.monotonic() + 60)))
    thread.start()
    time.sleep(1.0)  # the watch is open and idle
    stoppers = [threading.Thread(target=follower.stop) for _ in range(8)]
    errors: list[BaseException] = []
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        for stopper in stoppers:
            stopper.start()
        for stopper in [*stoppers, thread]:
            stopper.join(timeout=5)
    finally:
        threading.excepthook = threading.__excepthook__
    assert not thread.is_alive()
    assert errors == []


class _Response:
    """What a watch's response shows of itself to a stop: open, its connection held, and a
    ``shutdown`` of the socket it reads from."""

    closed = False
    connection = object()

    def __init__(self, sock: socket.socket) -> None:
        self.shutdown = functools.partial(sock.shutdown, socket.SHUT_RD)


def test_a_stop_after_the_socket_closed_under_the_response_is_quiet() -> None:
    """urllib3 closes the socket of a broken read before it hands the connection back; a stop
    in between finds nothing to end (EBADF), and says nothing."""
    ours, theirs = socket.socketpair()
    ours.close()
    theirs.close()
    from kubelab.watching import _Watched

    watched = _Watched(_Response(ours), threading.Lock())
    watched.shut_down()  # EBADF from the closed socket: nothing was left to end
    watched.shut_down()  # and only once


@pytest.mark.parametrize(
    "met",
    [
        OSError(errno.ENOTCONN, "Transport endpoint is not connected"),
        OSError(errno.ENOTSOCK, "Socket operation on non-socket"),
        RuntimeError("Cannot shutdown as connection has already been released to the pool"),
        ValueError("Cannot shutdown socket as self._sock_shutdown is not set"),
    ],
    ids=["ENOTCONN", "ENOTSOCK", "released-to-the-pool", "sock-shutdown-unset"],
)
def test_a_stop_racing_the_reader_that_ends_the_read_is_quiet(met: Exception) -> None:
    """What urllib3's shutdown() raises when the reader closed the response or handed its
    connection back between the stop's check and the shutdown: the read is over, the stop quiet
    (as kubernetes.watch.Watch.stop is)."""
    from kubelab.watching import _Watched

    ours, theirs = socket.socketpair()
    response = _Response(ours)
    response.shutdown = functools.partial(_raise, met)
    _Watched(response, threading.Lock()).shut_down()
    ours.close()
    theirs.close()


def test_a_programming_error_in_a_stop_is_not_hidden() -> None:
    from kubelab.watching import _Watched

    ours, theirs = socket.socketpair()
    response = _Response(ours)
    response.shutdown = functools.partial(_raise, TypeError("shutdown() takes no arguments"))
    with pytest.raises(TypeError, match="takes no arguments"):
        _Watched(response, threading.Lock()).shut_down()
    ours.close()
    theirs.close()


def _raise(exc: Exception) -> None:
    raise exc


def test_a_transient_api_error_while_asking_the_controllers_does_not_end_the_pod_watch(
    core: client.CoreV1Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelab.client import Kube
    from kubelab.namespace import LabNamespace
    from kubelab.podwatch import PodWatch

    owned = _pod("b", True, 2)
    owned["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ReplicationController",
            "name": "web",
            "uid": "u1",
            "controller": True,
        }
    ]
    monkeypatch.setattr(
        StandInWatchApi,
        "events",
        [{"type": "ADDED", "object": owned}, {"type": "DELETED", "object": _pod("a", False, 3)}],
    )
    watch = PodWatch(LabNamespace(Kube(core.api_client), "ns"), "app=web")
    watch.start()
    # The next list (the controllers of pod b, once it shows up) gets a 503, as an API server
    # that is busy answers: asked again, not the end of the watch.
    monkeypatch.setattr(StandInWatchApi, "failures", [503])
    watch.wait_until_old_pods_exit(timeout=10)
    watch.stop()
    assert StandInWatchApi.failures == []  # the 503 was met
