"""A retention run killed (kill -9) at any moment, then the next run: no row without its
file, and no file of a deleted call. One server at a time; each server runs on its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections

from calls.models import Call
from purge.lock import only_one
from purge.run import run_once
from purge.runner import runner
from purge.tests.helpers import ended_days_ago, files_under
from retention.models import DeletionEntry, PendingFileDeletion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("media_root")]

ROOT = Path(django_settings.BASE_DIR)


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_purge(media_root: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(media_root),
        "RETENTION_DEFAULT_DAYS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "apply_retention", "--batch-size", "3"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_ledger(count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until the running purge has committed `count` deletions (or it ended)."""
    deadline = time.monotonic() + timeout
    while DeletionEntry.objects.count() < count:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the purge made no progress"
        time.sleep(0.01)


def no_row_without_its_file(media_root: Path) -> None:
    names = [n for n in Call.objects.values_list("recording", flat=True) if n]
    missing = [n for n in names if not (media_root / n).exists()]
    assert missing == []


def test_a_purge_killed_twice_mid_way_then_run_again_leaves_no_orphan_row_or_file(
    settings, media_root
):
    settings.RETENTION_DEFAULT_DAYS = 1
    due = [ended_days_ago(5) for _ in range(150)]
    young = [ended_days_ago(0.5) for _ in range(5)]

    for threshold in (20, 80):
        process = start_purge(media_root)
        wait_for_ledger(threshold, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        # At every moment: a row still there has its file.
        no_row_without_its_file(media_root)
    assert 0 < DeletionEntry.objects.count() < len(due)

    report = run_once()

    assert report.files_left == 0
    no_row_without_its_file(media_root)
    assert set(Call.objects.values_list("pk", flat=True)) == {c.pk for c in young}
    assert files_under(media_root) == {c.recording.name for c in young}
    assert not PendingFileDeletion.objects.exists()
    # One ledger entry per deleted call, none twice.
    ledger = list(DeletionEntry.objects.values_list("call", flat=True))
    assert sorted(ledger) == sorted(c.pk for c in due)


def test_a_server_that_finds_the_run_lock_taken_skips_its_turn(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    call = ended_days_ago(5)
    holding, release = threading.Event(), threading.Event()
    outcome: list[bool] = []

    def other_server() -> None:
        try:
            with only_one() as got:
                outcome.append(got)
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_server)
    thread.start()
    assert holding.wait(30) and outcome == [True]
    try:
        report = run_once()
    finally:
        release.set()
        thread.join(30)

    assert report.ran is False and Call.objects.filter(pk=call.pk).exists()
    assert run_once().deleted == 1


def test_each_server_process_runs_retention_on_its_own_every_interval(settings):
    settings.RETENTION_DEFAULT_DAYS = 1
    first = ended_days_ago(5)
    settings.RETENTION_SWEEP_MINUTES = 0.001
    try:
        runner.start()
        assert runner.wait_for_passes(1, timeout=30)
        assert not Call.objects.filter(pk=first.pk).exists()
        second = ended_days_ago(5)
        assert runner.wait_for_passes(2, timeout=30)
        assert not Call.objects.filter(pk=second.pk).exists()
    finally:
        settings.RETENTION_SWEEP_MINUTES = 0
        assert runner.wait_stopped(timeout=30)
