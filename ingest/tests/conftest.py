from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys.services import create_api_key

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"


@pytest.fixture
def ingest_key():
    """An active key with the ingest permission, with its plaintext."""
    return create_api_key("PBX connector", can_ingest=True, can_query=False)


@pytest.fixture
def api(ingest_key):
    """A client that sends the ingest key in X-Api-Key."""
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ingest_key[1])
    return client


@pytest.fixture
def new_call_body():
    """A complete body for a call that started a minute ago and is still going on."""
    started = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    return {
        "id": CALL_ID,
        "caller_number": "+442071234567",
        "caller_name": "Ada Lovelace",
        "called_number": "8856",
        "called_name": "Help desk",
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "direction": "inbound",
        "native_id": "native-1",
        "platform_call_id": "abc@pbx",
    }
