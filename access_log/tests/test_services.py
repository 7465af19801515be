"""Recording, "one playback" and pruning, on the database the suite runs on."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from access_log.models import AccessEvent, Kind, Surface
from access_log.services import PLAY_WINDOW, Actor, record_access, record_play

pytestmark = pytest.mark.django_db

ALICE = Actor(surface=Surface.STAFF, user="alice", client="192.0.2.10")
CALL = uuid.UUID("a8343631-9f35-4a3a-83f0-9e81592339fb")


def test_an_event_keeps_who_what_where_and_the_detail():
    record_access(Kind.DOWNLOAD, ALICE, call_id=CALL, detail={"format": "mp3"})

    event = AccessEvent.objects.get()
    assert (event.kind, event.call_id, event.user, event.api_key) == ("download", CALL, "alice", "")
    assert (event.surface, event.client, event.detail) == ("staff", "192.0.2.10", {"format": "mp3"})


def test_a_search_names_no_call_and_a_view_needs_one():
    with pytest.raises(ValueError):
        record_access(Kind.SEARCH, ALICE, call_id=CALL)
    with pytest.raises(ValueError):
        record_access(Kind.VIEW, ALICE)
    assert not AccessEvent.objects.exists()


def test_the_range_requests_of_one_playback_are_one_event():
    start = timezone.now()
    first = record_play(ALICE, CALL, now=start)
    again = [record_play(ALICE, CALL, now=start + timedelta(seconds=s)) for s in (1, 30, 300)]

    assert first is not None
    assert again == [None, None, None]
    assert AccessEvent.objects.filter(kind=Kind.PLAY).count() == 1


def test_a_playback_after_ten_minutes_another_user_or_another_call_is_a_new_event():
    start = timezone.now()
    record_play(ALICE, CALL, now=start)
    record_play(ALICE, CALL, now=start + PLAY_WINDOW + timedelta(seconds=1))
    record_play(Actor(surface=Surface.STAFF, user="bob"), CALL, now=start)
    record_play(ALICE, uuid.uuid4(), now=start)

    assert AccessEvent.objects.filter(kind=Kind.PLAY).count() == 4


def test_pruning_removes_only_events_older_than_the_retention(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 730
    now = timezone.now()
    old = record_access(Kind.VIEW, ALICE, call_id=CALL, at=now - timedelta(days=731))
    kept = record_access(Kind.VIEW, ALICE, call_id=CALL, at=now - timedelta(days=729))

    call_command("prune_access_log", stdout=(out := StringIO()))

    assert list(AccessEvent.objects.values_list("id", flat=True)) == [kept.id]
    assert "Deleted 1 access log events" in out.getvalue()
    assert not AccessEvent.objects.filter(id=old.id).exists()


def test_a_retention_of_zero_keeps_every_event(settings):
    settings.ACCESS_LOG_RETENTION_DAYS = 0
    record_access(Kind.VIEW, ALICE, call_id=CALL, at=timezone.now() - timedelta(days=5000))

    call_command("prune_access_log", stdout=StringIO())

    assert AccessEvent.objects.count() == 1
