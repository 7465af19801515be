"""Writing the audit trail of the Business API."""

import uuid
from datetime import datetime

from audit.models import ApiRequest


def record_api_request(
    *,
    at: datetime,
    action: str,
    api_key_id: int | None,
    user_id: int | None,
    client_address: str | None,
    result_code: int,
    call_id: uuid.UUID | None,
    duration_ms: int,
) -> None:
    """Leave one audit row for one /verba/api request.

    Callers pass identifiers only, never the key, token or password they were given.
    """
    ApiRequest.objects.create(
        at=at,
        action=action[:64],
        api_key_id=api_key_id,
        user_id=user_id,
        client_address=client_address,
        result_code=result_code,
        call_id=call_id,
        duration_ms=duration_ms,
    )
