"""The web app against a real redis-server, served by gunicorn as in the image."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from pathlib import Path

import redis
import requests

from kubelab.waits import wait_until


def test_version_1_counts_visits_by_one(redis_port, serve_app):
    url = serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port), APP_VERSION="1.0").url
    first = requests.get(url, timeout=5)
    second = requests.get(url, timeout=5)
    n = int(first.text.split("seen ")[1].split(" ")[0])
    assert first.status_code == 200
    assert first.text == f"Hello Container World! I have been seen {n} times.\n"
    assert second.text == f"Hello Container World! I have been seen {n + 1} times.\n"
    assert first.headers["X-App-Version"] == "1.0"


def test_version_2_names_its_hostname(redis_port, serve_app):
    url = serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port), APP_VERSION="2.0").url
    answer = requests.get(url, timeout=5)
    host = answer.headers["X-Hostname"]
    assert answer.headers["X-App-Version"] == "2.0"
    assert answer.text.endswith(f" times and my hostname is {host}.\n")
    assert "b'" not in answer.text


def test_unresolvable_redis_is_a_one_line_500_with_redis_pys_words(serve_app):
    url = serve_app(REDIS_HOST="redis.invalid", APP_VERSION="1.0").url
    answer = requests.get(url, timeout=10)
    assert (answer.status_code, answer.text) == (
        500,
        "Error -2 connecting to redis.invalid:6379. Name or service not known.\n",
    )


def test_a_failing_redis_is_tried_once_per_request(serve_app):
    """One attempt, no retries with backoff: counted as connections, not timed (a loaded
    machine slows every attempt alike). The "redis" is a stand-in that hangs up on each."""
    accepted = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.2)

        def hang_up() -> None:
            with contextlib.suppress(OSError):
                while True:
                    with contextlib.suppress(TimeoutError):
                        conn, _ = listener.accept()
                        accepted.append(conn)
                        conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        port = str(listener.getsockname()[1])
        url = serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=port).url
        answer = requests.get(url, timeout=30)
        assert answer.status_code == 500, answer.text
        assert len(accepted) == 1


def test_healthz_does_not_need_redis(serve_app):
    url = serve_app(REDIS_HOST="redis.invalid").url
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


def test_service_links_in_the_environment_do_not_break_it(redis_port, serve_app):
    """Pods started after the redis Service get REDIS_PORT=tcp://...: the app must ignore it."""
    url = serve_app(
        REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port), REDIS_PORT="tcp://10.96.0.7:6379"
    ).url
    assert requests.get(url, timeout=5).status_code == 200


def test_no_debug_server_even_on_errors(serve_app):
    url = serve_app(REDIS_HOST="redis.invalid").url
    answer = requests.get(url, timeout=10)
    assert "Traceback" not in answer.text
    assert "Werkzeug" not in answer.headers.get("Server", "")


def established_to(port: int) -> int:
    """Open TCP connections to a loopback port, as the kernel lists them."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for line in lines if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "01"
    )


def test_sigterm_finishes_the_request_in_flight(redis_port, serve_app):
    """gunicorn drains on SIGTERM: a request already being served still gets its answer."""
    served = serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port))
    results: list[requests.Response] = []
    blocker = threading.Thread(
        target=lambda: redis.Redis(port=redis_port).execute_command("DEBUG", "SLEEP", "1.5")
    )
    before = established_to(redis_port)
    blocker.start()  # redis stalls, so the next request is in flight for ~1.5 s
    wait_until(lambda: established_to(redis_port), lambda n: n > before, timeout=10, what="block")
    request = threading.Thread(target=lambda: results.append(requests.get(served.url, timeout=10)))
    request.start()
    # In flight: the app's connection to redis is open (the kernel completes it while redis
    # sleeps), whatever the machine's load; no fixed sleep.
    wait_until(
        lambda: established_to(redis_port), lambda n: n > before + 1, timeout=10, what="request"
    )
    served.proc.send_signal(signal.SIGTERM)
    request.join(timeout=10)
    blocker.join(timeout=10)
    assert [r.status_code for r in results] == [200]
    assert served.proc.wait(timeout=30) == 0


def test_sigterm_stops_an_idle_server_at_once(redis_port, serve_app):
    """With nothing in flight there is nothing to drain: the server exits well within a second
    of SIGTERM, so a pod shutting down is gone that much sooner. gthread's event loop waits up to
    1 s at a time and looks for shutdown only after, unless the signal wakes it: SIGTERM is sent
    just after a request was answered, when that loop has just begun a wait, so a server the
    signal did not wake would take about a second more."""
    served = serve_app(REDIS_HOST="127.0.0.1", APP_REDIS_PORT=str(redis_port))
    assert requests.get(f"{served.url}/healthz", timeout=10).status_code == 200
    time.sleep(0.05)  # the answer's connection closed, the loop waits again
    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=30) == 0
    # Here 0.16 s; 1.0-1.2 s without the wake (app/gunicorn.conf.py's post_worker_init).
    assert time.monotonic() - sent < 0.9
