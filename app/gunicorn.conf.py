"""gunicorn settings: no debug server; SIGTERM drains in-flight requests before exit."""

bind = "0.0.0.0:5000"
# One process, its threads serving concurrently: each worker process imports Flask and redis-py
# on start, so a second one would double the CPU a pod takes to start, for no throughput the lab
# needs (the rollouts' traffic is shared by three pods).
workers = 1
threads = 8
worker_class = "gthread"
# On SIGTERM gunicorn stops accepting and lets running requests finish for up to this long.
graceful_timeout = 20
timeout = 30
accesslog = None
errorlog = "-"
loglevel = "info"


def post_worker_init(worker):
    """Let a signal wake the gthread worker's event loop, so SIGTERM stops an idle server at
    once: its loop waits up to 1 s on the listening socket and checks for shutdown only after
    (the sync worker watches the signal pipe; gthread does not). Requests in flight still drain
    for up to graceful_timeout."""
    import contextlib
    import os
    import selectors

    poller = getattr(worker, "poller", None)
    if poller is None:  # another worker class
        return

    def drain(pipe):
        with contextlib.suppress(BlockingIOError):  # the signal's wakeup bytes; then the
            os.read(pipe, 4096)  # loop sees that the worker is no longer alive

    poller.register(worker.PIPE[0], selectors.EVENT_READ, drain)
