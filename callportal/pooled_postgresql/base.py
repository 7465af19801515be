"""PostgreSQL through psycopg2 with a bounded connection pool per process.

django-db-connection-pool puts SQLAlchemy's QueuePool under Django's connection handling:
"connecting" takes a connection from the pool and "closing" gives it back, so with
CONN_MAX_AGE = 0 every request returns its connection when it ends, and a process never
holds more than DB_POOL_SIZE. A request that finds the pool empty waits up to
DB_POOL_TIMEOUT for one, then fails like an unreachable database (code 9 / 503).

Two changes to the library's behaviour, both for the hot path:
- no ping on every checkout (settings: PRE_PING off): it would cost a round trip per
  request. Instead a connection on which an error occurred and that no longer answers is
  discarded, not returned, so a database restart costs each pooled connection one failed
  request at most, and the pool opens fresh ones.
- Django's own health check of persistent connections does not apply (CONN_MAX_AGE = 0).
"""

from __future__ import annotations

from typing import Any

from dj_db_conn_pool.backends.postgresql import base as pooled
from django.db import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DatabaseWrapper(pooled.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except PoolTimeout:
            # As Django's own error, so every caller treats an exhausted pool like an
            # unreachable database (the Business API's code 9, the ingestion API's 503).
            raise OperationalError("no database connection free in the pool") from None

    def _close(self) -> None:
        if self.connection is not None and self.errors_occurred and not self.is_usable():
            # Drop the broken connection instead of handing it to the next request.
            with self.wrap_database_errors:
                self.connection.invalidate()
            return
        super()._close()
