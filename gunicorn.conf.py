"""gunicorn settings for callportal (used by `make demo`, `make serve` and in production).

gevent workers: every request runs in a greenlet, so a `status=next` long poll of up to
NEXT_WINDOW_SECONDS (60 s) costs a few KB of memory, no thread and no database connection;
one worker holds NEXT_MAX_WAITING (1,000) of them while it goes on answering everything
else. psycopg2 is made cooperative (psycogreen), so a query in one greenlet lets the others
run, and database connections come from a bounded pool per process (DB_POOL_SIZE).
docs/deployment.md explains the choice and has the sizing and the measurements.
GUNICORN_WORKER_CLASS=gthread brings back threaded workers (GUNICORN_THREADS each).
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import environ
import gunicorn.util

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

# The same .env as the Django settings, so these variables may live there too.
environ.Env.read_env(Path(__file__).resolve().parent / ".env", overwrite=False)
env = environ.Env()

bind = env.str("BIND", default="127.0.0.1:8000")
workers = env.int("WEB_CONCURRENCY", default=2)
_kind = env.str("GUNICORN_WORKER_CLASS", default="gevent")
# gevent: gunicorn's gevent worker, accepting waiting connections at once and evenly between
# the workers (callportal/gevent_worker.py: gunicorn's own took one per turn of a busy loop,
# and a connection waiting to be accepted waited seconds, outside any first-come queue).
worker_class = "callportal.gevent_worker.GeventWorker" if _kind == "gevent" else _kind
threads = env.int("GUNICORN_THREADS", default=64)  # gthread only
# gevent only: most open client connections per worker, waiting `next` requests included.
# Above NEXT_MAX_WAITING (1,000 by default), so waiting requests never use up the room
# that other requests need.
worker_connections = env.int("GUNICORN_WORKER_CONNECTIONS", default=1250)

# A graceful stop (SIGTERM, or a restart with SIGHUP) waits this long for requests in
# flight. It must outlast a `next` window, so a waiting request still gets its answer
# (a call, or code 2 when the window closes) instead of a cut connection.
_window = env.float("NEXT_WINDOW_SECONDS", default=60.0)
graceful_timeout = int(_window) + 15
# For gthread workers this is the heartbeat of the worker's main loop, which keeps beating
# while request threads wait; it is not a per-request limit. A worker finishing its
# requests after a restart (SIGHUP) stops beating, and would be killed after this long:
# so it must outlast graceful_timeout too.
timeout = graceful_timeout + 15
keepalive = 5
# gunicorn answers a request line longer than this with its own HTML 400 before Django
# sees the request. Its default (4094) is short for the Business API, whose parameters
# all travel in the query string; 8190 is gunicorn's maximum, so long query strings reach
# Django and get the API's own code-1 answer in the requested format. Longer ones still
# get gunicorn's 400 (as they would from most proxies in front of it).
limit_request_line = 8190

# The request line is logged without its query string: apiKey and token may travel in it.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"

# Every line passes the scrub_secrets filter (callportal/log_scrubbing.py), which blanks
# apiKey, token, password and userName values and key/token/authorization headers: gunicorn
# quotes malformed request and header lines in full, and a path can hold `%3FapiKey%3D…`.
# Access lines go to stdout, the rest to stderr, as gunicorn does by default. Django's
# LOGGING (settings.py) puts the same filter on the application's handlers.
_line = {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_secrets": {"()": "callportal.log_scrubbing.ScrubSecrets"}},
    "formatters": {
        "error": {**_line, "datefmt": "[%Y-%m-%d %H:%M:%S %z]"},
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "error": {
            "class": "logging.StreamHandler",
            "formatter": "error",
            "filters": ["scrub_secrets"],
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "filters": ["scrub_secrets"],
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": env.str("LOG_LEVEL", default="INFO"), "handlers": ["error"]},
    "loggers": {
        "gunicorn.error": {
            "level": env.str("LOG_LEVEL", default="INFO"),
            "handlers": ["error"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


# gunicorn answers a request it cannot parse with a page that quotes the offending request
# line or header line back ("Invalid HTTP Version '… apiKey=… HTTP/1.1'"): keys, tokens and
# passwords would travel back through every proxy and client log on the way. The page says
# only what went wrong (400 Bad Request); its one caller is the worker's error handler.
_write_error = getattr(gunicorn.util.write_error, "__wrapped__", gunicorn.util.write_error)


@functools.wraps(_write_error)  # keeps the original as __wrapped__, for a reload
def _write_error_without_echo(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    _write_error(sock, status_int, reason, "")


gunicorn.util.write_error = _write_error_without_echo


def post_fork(server: Arbiter, worker: Worker) -> None:
    """Make psycopg2 wait through gevent, so a query blocks only its own greenlet."""
    if _kind == "gevent":
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Write the buffered audit rows before the worker goes (restart, scale-down, SIGTERM).

    The atexit flush in audit/services.py would run too; this hook does not depend on the
    worker's interpreter shutting down cleanly (gevent's hub, other atexit handlers).
    A worker killed outright (SIGKILL, OOM) cannot: at most AUDIT_FLUSH_SECONDS of rows are
    lost then (docs/deployment.md).
    """
    try:
        from audit.services import flush
    except Exception:  # the app never loaded in this worker: nothing was buffered
        return
    flush()


def post_worker_init(worker: object) -> None:
    # Each worker deletes the ended calls whose DeleteCall waited for their end
    # (calls/deletion.py), runs retention every RETENTION_SWEEP_MINUTES, one server at a
    # time (purge/runner.py), and delivers webhooks. Django is set up by now, unless the
    # configuration serves another application (the benchmark's bare WSGI app).
    from django.apps import apps

    if not apps.ready:
        return
    from calls.deletion import sweeper
    from purge.runner import runner
    from webhooks.delivery import deliverer

    sweeper.start()
    runner.start()
    # And sends the webhook outbox (webhooks/delivery.py): no extra service to run.
    deliverer.start()
