"""The lab's web app: says hello and counts visits in Redis.

Version 1.0 answers ``Hello Container World! I have been seen N times.``; version 2.0 adds
``and my hostname is H``. The version is fixed when the image is built (``APP_VERSION``) and is
also sent in the ``X-App-Version`` header, with the pod's hostname in ``X-Hostname``, so a traffic
probe can tell who answered every request.
"""

from __future__ import annotations

import os
import socket

import redis
from flask import Flask, Response
from redis.backoff import NoBackoff
from redis.retry import Retry

VERSION = os.environ.get("APP_VERSION", "1.0")
HOSTNAME = socket.gethostname()

app = Flask(__name__)
store = redis.Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    # Not REDIS_PORT: Kubernetes sets that to "tcp://<ip>:6379" in pods started after the
    # redis Service exists (service links).
    port=int(os.environ.get("APP_REDIS_PORT", "6379")),
    socket_connect_timeout=2,
    socket_timeout=2,
    # One attempt per request: a missing redis answers at once instead of after redis-py's
    # retries with backoff, and an INCR is never sent twice.
    retry=Retry(NoBackoff(), 0),
)


def _text(body: str, status: int = 200) -> Response:
    response = Response(body + "\n", status=status, mimetype="text/plain")
    response.headers["X-App-Version"] = VERSION
    response.headers["X-Hostname"] = HOSTNAME
    return response


@app.get("/")
def hello() -> Response:
    try:
        hits = int(store.incr("hits"))
    except redis.RedisError as exc:
        # One line with redis-py's own words, e.g. "Error -2 connecting to redis:6379. Name or
        # service not known." -- the seed's symptom, without a traceback page.
        return _text(str(exc).splitlines()[0], status=500)
    if VERSION == "1.0":
        return _text(f"Hello Container World! I have been seen {hits} times.")
    return _text(
        f"Hello Container World! I have been seen {hits} times and my hostname is {HOSTNAME}."
    )


@app.get("/healthz")
def healthz() -> Response:
    """Readiness and liveness: the process serves HTTP. Redis is not consulted on purpose."""
    return _text("ok")
