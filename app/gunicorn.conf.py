"""gunicorn settings: no debug server; SIGTERM drains in-flight requests before exit."""

bind = "0.0.0.0:5000"
workers = 2
threads = 4
worker_class = "gthread"
# On SIGTERM gunicorn stops accepting and lets running requests finish for up to this long.
graceful_timeout = 20
timeout = 30
accesslog = None
errorlog = "-"
loglevel = "info"
