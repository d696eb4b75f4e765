"""gunicorn -c gateway/gunicorn.conf.py 'gateway.app:create_app()'

Threads, not eventlet: gunicorn 26+ has no eventlet worker, and the RPC pool is thread-safe.
"""

import os
import shutil

from prometheus_client import multiprocess

# The public port, and the ops port (/health/live, /health/ready, /metrics: gateway.ops),
# which only the machine's or the cluster's own tools reach.
_public = f"{os.environ.get('GATEWAY_HOST', '127.0.0.1')}:{os.environ.get('GATEWAY_PORT', '8000')}"
_ops_host = os.environ.get("GATEWAY_OPS_HOST", "127.0.0.1")
bind = [_public, f"{_ops_host}:{os.environ.get('GATEWAY_OPS_PORT', '9100')}"]
worker_class = "gthread"
# Measured with `make bench` on 2 cores: 4 processes of 4 threads served 15 % more product reads
# than 2 of 8 (threads of one process share its interpreter lock, and the kernel spread the
# connections unevenly over two processes).
workers = int(os.environ.get("GATEWAY_WORKERS", "4"))
threads = int(os.environ.get("GATEWAY_THREADS", "4"))
timeout = 30
graceful_timeout = int(os.environ.get("GATEWAY_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
accesslog = "-"
# One JSON object per line, like the services; the access line carries the request id it
# echoed in its ``request_id`` field.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "chassis.logs.JsonFormatter", "service": "gateway"}},
    "filters": {"request_id": {"()": "gateway.request_id.AccessLogRequestId"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": os.environ.get("LOG_LEVEL", "INFO"), "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["console"],
            "filters": ["request_id"],
            "propagate": False,
        },
    },
}
control_socket_disable = True


def on_starting(server):
    # Counters from a previous run must not be added to this one's.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
