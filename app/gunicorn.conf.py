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
