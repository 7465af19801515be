"""Query-plan tests need PostgreSQL's planner: on SQLite they are not collected at all
(neither run nor reported as skipped), as the README says."""

from django.conf import settings

collect_ignore = (
    []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    else ["test_query_plans.py"]
)
