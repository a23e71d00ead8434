"""gunicorn settings: no debug server; SIGTERM drains in-flight requests before exit."""

bind = "0.0.0.0:5000"
# One process, its threads serving concurrently: a second worker process doubled the CPU a pod
# takes to start (each imports Flask and redis-py, about 1 CPU-second here) for no throughput
# the lab needs (measured: 0.9 CPU-s and 0.73 s to ready with one worker, 1.9 and 0.94 s with
# two; the rollouts' 250 requests/s are shared by three pods).
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
