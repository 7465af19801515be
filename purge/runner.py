"""Each app server process runs retention every RETENTION_SWEEP_MINUTES, no cron needed.

Started by gunicorn's worker hook (gunicorn.conf.py). Every process tries; the run lock
(purge/lock.py) lets one server at a time do the work and the others skip their turn.
"""

from __future__ import annotations

from django.conf import settings

from purge.run import run_once
from shared.periodic import PeriodicJob

runner = PeriodicJob(
    "retention run", run_once, interval=lambda: settings.RETENTION_SWEEP_MINUTES * 60.0
)
