"""POST/PATCH/GET /api/v1/calls: what a recorder or PBX connector sees."""

import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from calls.models import Call
from calls.tests.factories import CallFactory
from ingest.tests.conftest import CALL_ID

pytestmark = pytest.mark.django_db

URL = "/api/v1/calls"


def post(api, body):
    return api.post(URL, body, format="json")


def test_it_creates_a_call_and_answers_201_with_the_call(api, new_call_body):
    response = post(api, new_call_body)

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["id"] == CALL_ID
    assert body["caller_number"] == "+442071234567"
    assert body["ended_at"] is None
    assert body["has_recording"] is False
    call = Call.objects.get(pk=CALL_ID)
    assert call.called_number == "8856"
    assert call.started_at == parse_datetime(new_call_body["started_at"])
    assert call.direction == "inbound"


def test_it_generates_an_id_when_the_body_has_none(api, new_call_body):
    del new_call_body["id"]

    response = post(api, new_call_body)

    assert response.status_code == 201
    assert Call.objects.filter(pk=uuid.UUID(response.json()["id"])).exists()


def test_replaying_the_same_body_gives_one_call_and_the_same_answer(api, new_call_body):
    first = post(api, new_call_body)
    second = post(api, new_call_body)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Call.objects.count() == 1


def test_a_post_for_a_known_id_changes_only_the_fields_it_gives(api, new_call_body):
    post(api, new_call_body)
    ended = timezone.now().replace(microsecond=0)

    response = post(api, {"id": CALL_ID, "ended_at": ended.isoformat(), "keep": True})

    assert response.status_code == 200
    call = Call.objects.get(pk=CALL_ID)
    assert call.ended_at == ended
    assert call.keep is True
    assert call.caller_name == "Ada Lovelace"
    assert call.platform_call_id == "abc@pbx"


def test_it_names_every_missing_required_field_of_a_new_call(api):
    response = post(api, {"id": CALL_ID, "caller_name": "Ada"})

    assert response.status_code == 400
    assert set(response.json()) == {"caller_number", "called_number", "started_at"}
    assert not Call.objects.exists()


def test_it_names_every_bad_field_at_once(api, new_call_body):
    new_call_body.update(
        caller_number="1" * 65, called_number="", direction="sideways", surprise=1, keep="maybe"
    )

    response = post(api, new_call_body)

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"caller_number", "called_number", "direction", "surprise", "keep"}
    assert errors["surprise"] == ["Unknown field."]
    assert not Call.objects.exists()


def test_it_rejects_read_only_fields(api, new_call_body):
    response = post(api, {**new_call_body, "created_at": "2026-01-01T00:00:00Z"})

    assert response.status_code == 400
    assert response.json() == {"created_at": ["This field is read-only."]}


def test_it_rejects_a_time_without_utc_offset(api, new_call_body):
    new_call_body["started_at"] = "2026-11-26T14:03:00"

    response = post(api, new_call_body)

    assert response.status_code == 400
    assert "offset" in response.json()["started_at"][0]


def test_it_rejects_a_time_that_is_not_a_time(api, new_call_body):
    new_call_body["started_at"] = "yesterday"

    response = post(api, new_call_body)

    assert response.status_code == 400
    assert list(response.json()) == ["started_at"]


def test_it_rejects_a_malformed_id(api, new_call_body):
    new_call_body["id"] = "not-a-guid"

    response = post(api, new_call_body)

    assert response.status_code == 400
    assert list(response.json()) == ["id"]


def test_it_rejects_an_end_before_the_start(api, new_call_body):
    started = parse_datetime(new_call_body["started_at"])
    new_call_body["ended_at"] = (started - timedelta(seconds=1)).isoformat()

    response = post(api, new_call_body)

    assert response.status_code == 400
    assert list(response.json()) == ["ended_at"]
    assert not Call.objects.exists()


def test_it_trims_white_space_around_numbers(api, new_call_body):
    new_call_body["called_number"] = "  8856 "

    response = post(api, new_call_body)

    assert response.json()["called_number"] == "8856"


def test_a_body_that_is_not_json_is_refused_with_415(api):
    response = api.post(URL, {"caller_number": "1"}, format="multipart")

    assert response.status_code == 415
    assert "detail" in response.json()


def test_malformed_json_is_a_400_with_a_json_answer(api):
    response = api.post(URL, b'{"caller_number": ', content_type="application/json")

    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_json_array_is_refused_as_a_400(api):
    response = api.post(URL, [1, 2], format="json")

    assert response.status_code == 400


def test_it_answers_json_whatever_the_client_accepts(api, new_call_body):
    response = api.post(URL, new_call_body, format="json", HTTP_ACCEPT="text/xml")

    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"


def test_patch_ends_a_call_and_keeps_the_rest(api):
    call = CallFactory(ended_at=None)
    ended = timezone.now().replace(microsecond=0)

    response = api.patch(f"{URL}/{call.pk}", {"ended_at": ended.isoformat()}, format="json")

    assert response.status_code == 200
    assert response.json()["ended_at"] == ended.isoformat().replace("+00:00", "Z")
    call.refresh_from_db()
    assert call.ended_at == ended
    assert call.called_number == "8856"


def test_patch_refuses_an_end_before_the_stored_start_and_changes_nothing(api):
    call = CallFactory(ended_at=None)
    too_early = call.started_at - timedelta(minutes=1)

    response = api.patch(
        f"{URL}/{call.pk}", {"ended_at": too_early.isoformat(), "keep": True}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["ended_at"]
    call.refresh_from_db()
    assert call.ended_at is None
    assert call.keep is False


def test_patch_cannot_change_the_id(api):
    call = CallFactory()

    response = api.patch(f"{URL}/{call.pk}", {"id": str(uuid.uuid4())}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["id"]


def test_patch_validates_fields_like_post(api):
    call = CallFactory()

    response = api.patch(f"{URL}/{call.pk}", {"caller_number": "", "x": 1}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"caller_number", "x"}


@pytest.mark.parametrize("call_id", [str(uuid.uuid4()), "not-a-guid"])
def test_an_unknown_or_malformed_call_id_is_a_json_404(api, call_id):
    for response in (
        api.get(f"{URL}/{call_id}"),
        api.patch(f"{URL}/{call_id}", {"keep": True}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "No call with this id."}


def test_get_reads_a_call(api):
    call = CallFactory(caller_name="Grace Hopper", keep=True)

    response = api.get(f"{URL}/{call.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(call.pk)
    assert body["caller_name"] == "Grace Hopper"
    assert body["keep"] is True
    assert parse_datetime(body["started_at"]) == call.started_at


def test_the_list_filters_by_number_on_either_side_and_by_start(api):
    now = timezone.now()
    as_caller = CallFactory(caller_number="8856", called_number="100", started_at=now)
    as_called = CallFactory(called_number="8856", started_at=now - timedelta(hours=2))
    CallFactory(caller_number="999", called_number="100", started_at=now)
    CallFactory(called_number="8856", started_at=now - timedelta(days=3))

    response = api.get(
        URL,
        {"number": "8856", "started_after": (now - timedelta(days=1)).isoformat()},
    )

    assert response.status_code == 200
    ids = [c["id"] for c in response.json()["results"]]
    assert ids == [str(as_caller.pk), str(as_called.pk)]


def test_the_list_pages_with_a_cursor_newest_first_without_gaps(api):
    now = timezone.now()
    calls = [CallFactory(started_at=now - timedelta(minutes=i)) for i in range(5)]

    seen = []
    url = f"{URL}?page_size=2"
    while url:
        page = api.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]

    assert seen == [str(c.pk) for c in calls]


def test_the_list_pages_calls_that_started_at_the_same_moment_once_each(api):
    now = timezone.now()
    calls = [CallFactory(started_at=now) for _ in range(5)]

    seen = []
    url = f"{URL}?page_size=2"
    while url:
        page = api.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]

    assert sorted(seen) == sorted(str(c.pk) for c in calls)


def test_a_numbers_calls_page_forward_and_back_across_both_sides_once_each(api):
    now = timezone.now()
    tied = now - timedelta(minutes=3)
    calls = [
        CallFactory(caller_number="8856", called_number="100", started_at=now),
        CallFactory(
            caller_number="200", called_number="8856", started_at=now - timedelta(minutes=1)
        ),
        CallFactory(
            caller_number="8856", called_number="8856", started_at=now - timedelta(minutes=2)
        ),
        *(CallFactory(caller_number="8856", started_at=tied) for _ in range(2)),
        *(CallFactory(called_number="8856", started_at=tied) for _ in range(2)),
        CallFactory(caller_number="300", called_number="8856", started_at=now - timedelta(days=9)),
    ]
    CallFactory(caller_number="999", called_number="100", started_at=now)

    pages, url = [], f"{URL}?number=8856&page_size=2"
    while url:
        page = api.get(url).json()
        pages.append(page)
        url = page["next"]
    seen = [c["id"] for page in pages for c in page["results"]]
    back = api.get(pages[-1]["previous"]).json()

    assert sorted(seen) == sorted(str(c.pk) for c in calls)
    assert seen[:3] == [str(c.pk) for c in calls[:3]] and seen[-1] == str(calls[-1].pk)
    assert [c["id"] for c in back["results"]] == [c["id"] for c in pages[-2]["results"]]


def test_the_list_rejects_a_bad_filter_naming_it(api):
    response = api.get(URL, {"started_before": "tomorrow"})

    assert response.status_code == 400
    assert list(response.json()) == ["started_before"]


def test_any_other_path_under_the_api_is_a_json_404(api):
    response = api.get("/api/v1/calls/")
    assert response.status_code == 404
    assert "trailing slash" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/calls/"),
        ("patch", "/api/v1/calls/a/b"),
        ("post", "/api/v1/nothing"),
        ("put", "/api/v1/nothing"),
        ("delete", "/api/v1/calls/a/b/c"),
        ("get", "/api/v1/nothing"),
    ],
)
def test_every_method_on_an_unknown_api_path_is_the_json_404_even_with_csrf_checks(
    ingest_key, method, path
):
    # As a real client meets it: Django's test client skips CSRF checks unless asked.
    client = Client(enforce_csrf_checks=True, headers={"X-Api-Key": ingest_key[1]})

    send = getattr(client, method)
    response = send(path) if method == "get" else send(path, "{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "No such endpoint" in response.json()["detail"]


def test_a_database_outage_is_a_503_and_nothing_is_written(api, new_call_body, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("calls.services.upsert_call", down)

    response = post(api, new_call_body)

    assert response.status_code == 503
    assert "nothing was changed" in response.json()["detail"]
    assert response["Retry-After"]


def test_an_unexpected_error_is_a_json_500(api, new_call_body, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("calls.services.upsert_call", broken)

    response = post(api, new_call_body)

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error; nothing was changed."}
