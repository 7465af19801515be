"""The audit trail's figures of a key's requests, for the API-key admin.

The admin (apikeys.admin.KeyUsage) says what it needs; this provides it; the project
(callportal/apps.py) plugs one into the other. So neither of apikeys and audit imports the
other (docs/decisions.md, "Layers").
"""

from datetime import datetime

from django.db.models import Expression

from audit.charts import usage_chart_svg
from audit.selectors import daily_usage, requests_since


class TrailKeyUsage:
    """apikeys.admin.KeyUsage, read from the audit trail."""

    def requests_since(self, since: datetime) -> Expression:
        return requests_since(since)

    def daily_chart(self, api_key_id: int, days: int) -> str:
        return usage_chart_svg(daily_usage(api_key_id, days=days))
