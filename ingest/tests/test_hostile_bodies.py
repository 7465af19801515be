"""Bodies built to hurt the JSON ingestion API: each gets a JSON 4xx, never a 500."""

import pytest
from django.conf import settings

from calls.models import Call

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"


def test_json_nested_5000_deep_is_a_json_400(api):
    response = api.post(URL, "[" * 5000 + "]" * 5000, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "JSON parse error - the document is nested too deeply."}


def test_an_object_nested_5000_deep_in_a_field_is_a_json_400(api, new_call_body):
    body = '{"caller_name": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"

    response = api.post(URL, body, content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert not Call.objects.exists()


def test_a_3_mb_body_is_a_json_413(api, new_call_body):
    body = '{"caller_name": "' + "a" * 3_000_000 + '"}'

    response = api.post(URL, body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert response.json() == {"detail": f"The request body is larger than {limit} bytes."}
    assert not Call.objects.exists()


def test_a_3_mb_patch_is_a_json_413_too(api, new_call_body):
    api.post(URL, new_call_body, format="json")
    body = '{"caller_name": "' + "a" * 3_000_000 + '"}'

    response = api.patch(f"{URL}/{new_call_body['id']}", body, content_type="application/json")

    assert response.status_code == 413
    assert Call.objects.get().caller_name == new_call_body["caller_name"]
