"""PostgreSQL through psycopg2 with a bounded connection pool per process.

django-db-connection-pool puts SQLAlchemy's QueuePool under Django's connection handling:
"connecting" takes a connection from the pool and "closing" gives it back, so with
CONN_MAX_AGE = 0 every request returns its connection when it ends, and a process never
holds more than DB_POOL_SIZE. A request that finds the pool empty waits up to
DB_POOL_TIMEOUT for one, then fails like an unreachable database (code 9 / 503).

Three changes to the library's behaviour:
- first come, first served: the pool is a FifoQueuePool (fifo.py), which hands a returned
  connection to the request that has waited longest; the library's QueuePool lets a
  running request barge ahead of those waiting, so a few of them waited for the whole
  timeout while the median waited milliseconds.
- no ping on every checkout (settings: PRE_PING off): it would cost a round trip per
  request. Instead a connection on which an error occurred and that no longer answers is
  discarded, not returned, so a database restart costs each pooled connection one failed
  request at most, and the pool opens fresh ones.
- Django's own health check of persistent connections does not apply (CONN_MAX_AGE = 0).
"""

from __future__ import annotations

from typing import Any

from dj_db_conn_pool.backends.postgresql import base as pooled
from dj_db_conn_pool.core import pool_container
from django.db import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from callportal.pooled_postgresql.fifo import FifoQueuePool


class DatabaseWrapper(pooled.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        with pool_container.lock:
            # Made here, as the library would make its QueuePool (with the same options),
            # so that the library finds this one and uses it.
            if not pool_container.has(self.alias):
                options = {
                    key.lower(): value
                    for key, value in self.settings_dict.get("POOL_OPTIONS", {}).items()
                    if key == key.upper() and key.lower() in pool_container.pool_default_params
                }
                pool_container.put(
                    self.alias,
                    FifoQueuePool(
                        lambda: self._get_new_connection(conn_params),
                        dialect=self._get_dialect(),
                        **{**pool_container.pool_default_params, **options},
                    ),
                )
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
