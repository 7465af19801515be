"""gunicorn settings for callportal (used by `make demo` and in production).

Threaded workers, because a `status=next` request is a long poll of up to
NEXT_WINDOW_SECONDS (60 s): every waiting request holds a thread (never a database
connection), so capacity for waiters = workers × threads. Size it from
"arrival rate of next requests × window" (10/s × 60 s = 600 waiters).
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# Longer than the long-poll window, so a waiting request is never killed as a hung worker
# and a graceful restart lets waiting requests finish (they answer code 2 at the window's end).
timeout = 120
graceful_timeout = 75
keepalive = 5
# The request line is logged without its query string: apiKey and token may travel in it.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
errorlog = "-"
