"""One server at a time: the lock a retention run holds while it deletes.

PostgreSQL: a session-level advisory lock, taken without waiting; a server that does not
get it skips its turn. The database drops it when the holder's connection ends, so a
server killed mid-run (kill -9) never leaves it taken. Behind PgBouncer in transaction mode
session locks do not hold: run retention on a direct connection there (docs/retention.md).

SQLite (one machine): an exclusive `flock` on a file beside the database, which the
operating system releases when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

NAME = "callportal.retention"


def _key(name: str) -> int:
    # A stable signed 64-bit number for the name (PostgreSQL's advisory lock key).
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def only_one(name: str = NAME) -> Iterator[bool]:
    """Yield True when this process holds the lock for the block, False when another has it."""
    if connection.vendor == "postgresql":
        with _advisory(name) as got:
            yield got
    else:
        with _file_lock(name) as got:
            yield got


@contextmanager
def _advisory(name: str) -> Iterator[bool]:
    key = _key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def lock_path(name: str) -> str:
    database = str(connection.settings_dict["NAME"])
    if database and os.path.isabs(database):
        return f"{database}.{name}.lock"
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"{name}-{digest}.lock")


@contextmanager
def _file_lock(name: str) -> Iterator[bool]:
    fd = os.open(lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
