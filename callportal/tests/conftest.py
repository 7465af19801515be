"""Query-plan and prepared-statement tests need PostgreSQL: on SQLite they are not
collected at all (neither run nor reported as skipped), as the README says."""

from django.db import connections

collect_ignore = (
    []
    # By vendor, not engine name: PostgreSQL runs through the pooled engine by default.
    if connections["default"].vendor == "postgresql"
    else [
        "test_query_plans.py",
        "test_prepared_statements.py",
        "test_scope_plans.py",
        "test_db_pool_postgresql.py",
        "test_export_connections_postgresql.py",
        "test_hold_lock_postgresql.py",
        "test_extension_overlap.py",
    ]
)
