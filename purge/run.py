"""A retention run: delete the calls that are due, rule by rule, in batches.

- `preview` counts what a run would delete now, per rule; `apply` deletes it and reports the
  same figures. Both read the one definition of "due" (retention/conditions.py) and the
  same exemptions (kept, held, without an end), so a dry run shows exactly a real run.
- Each batch is one transaction (calls.deletion.purge_batch): the calls, their ledger
  entries and their files' queue entries go together; the files go after the commit. A run
  first works off the files left over from earlier runs (a crash, a refusing storage).
- The moment `now` is fixed when the run starts, so a run ends even while calls keep
  becoming due. Each batch picks the oldest due calls from where the previous one ended
  (their start time), so that a batch never walks over the rows the run deleted before;
  a call skipped because it was being written is left to the next run.
- Holds are read for every batch, and again once its calls are picked, then held fixed
  until the batch commits: a hold saved at any moment before a batch's deletion commits
  protects its calls from that batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from calls import deletion
from calls.models import Call
from purge.lock import only_one
from retention import conditions, selectors

logger = logging.getLogger(__name__)


@dataclass
class Figure:
    """One line of a run's report: a rule (or the default) and its calls."""

    label: str
    reason: str
    keep_days: int | None
    due: int = 0
    deleted: int = 0


@dataclass
class Report:
    figures: list[Figure]
    files_removed: int = 0
    files_left: int = 0
    ran: bool = True  # False: another server held the lock

    @property
    def deleted(self) -> int:
        return sum(f.deleted for f in self.figures)


def _steps() -> list[conditions.Step]:
    return conditions.plan(selectors.rules(), conditions.default_days())


def preview(now: datetime | None = None) -> list[Figure]:
    """Per rule, how many calls a run would delete at `now`."""
    now = now or timezone.now()
    subject = conditions.subject_q(selectors.active_holds())
    return [
        Figure(
            label=step.label,
            reason=step.reason,
            keep_days=step.keep_days,
            due=Call.objects.filter(step.due_q(now) & subject).count(),
        )
        for step in _steps()
    ]


def apply(
    now: datetime | None = None,
    *,
    batch_size: int | None = None,
    after_batch: Callable[[int], None] | None = None,
    before_delete: Callable[[], None] | None = None,
) -> Report:
    """Delete every call due at `now`; the caller holds the run lock (see `run_once`).

    `after_batch` is told each batch's count; `before_delete` is called in each batch
    between picking its calls and deleting them (tests)."""
    now = now or timezone.now()
    size = batch_size or settings.RETENTION_BATCH_SIZE
    removed = deletion.work_off_files()
    figures = []
    for step in _steps():
        figure = Figure(label=step.label, reason=step.reason, keep_days=step.keep_days)
        figures.append(figure)
        due = step.due_q(now)
        if due is conditions.NOTHING:
            continue
        after = None
        while True:
            batch = deletion.purge_batch(
                due, reason=step.reason, size=size, after=after, before_delete=before_delete
            )
            # Under gevent workers (the server's own runs) let the requests of this worker
            # run between batches; elsewhere this costs nothing.
            time.sleep(0)
            figure.deleted += batch.deleted
            if after_batch is not None:
                after_batch(batch.deleted)
            if batch.chosen < size:
                break
            after = batch.last_started
        figure.due = figure.deleted
    left = deletion.files_left()
    return Report(figures=figures, files_removed=removed, files_left=left)


def run_once(**kwargs: Any) -> Report:
    """One run under the lock; a server that finds it taken does nothing this time."""
    with only_one() as got:
        if not got:
            return Report(figures=[], ran=False)
        report = apply(**kwargs)
    if report.deleted or report.files_removed:
        logger.info(
            "Retention deleted %d calls and removed %d files (%d files still to remove)",
            report.deleted,
            report.files_removed,
            report.files_left,
        )
    return report
