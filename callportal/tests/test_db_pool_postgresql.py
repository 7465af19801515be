"""The PostgreSQL backend's pool is the first-come, first-served one (collected on
PostgreSQL only, see conftest.py: SQLite runs without a pool)."""

import pytest
from django.conf import settings
from django.db import connection


@pytest.mark.django_db
def test_the_postgresql_backend_takes_its_connections_from_the_first_come_first_served_pool():
    from dj_db_conn_pool.core import pool_container

    from callportal.pooled_postgresql.fifo import FifoQueuePool

    connection.ensure_connection()

    pool = pool_container.get(connection.alias)
    assert isinstance(pool, FifoQueuePool)
    assert pool.size() == settings.DATABASES["default"]["POOL_OPTIONS"]["POOL_SIZE"]
