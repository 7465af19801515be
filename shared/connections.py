"""Giving a request's database connection back before it waits on something slow."""

from __future__ import annotations

from django.db import connection


def give_back_connection() -> None:
    """Return the connection to the pool (close it, without the pool) before a wait that
    needs none: a `next` long poll, an upload's body arriving from a slow client. The next
    query takes one again. Inside a transaction the connection cannot go without losing the
    transaction, so it stays (the Business API and the ingestion API run in autocommit)."""
    if not connection.in_atomic_block:
        connection.close()
