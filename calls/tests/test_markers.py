"""calls.markers: named segments of a call."""

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.markers import MarkerRefused, Mode, add_marker, markers_of
from calls.models import Marker
from calls.tests.factories import CallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def call():
    # A finished call of 100 seconds.
    start = timezone.now() - timedelta(hours=1)
    return CallFactory(started_at=start, ended_at=start + timedelta(seconds=100))


@pytest.fixture
def live_call():
    return CallFactory(started_at=timezone.now() - timedelta(seconds=30), ended_at=None)


def segment(call, name, start, end):
    return add_marker(call.pk, name, Mode.SEGMENT, start_ms=start, end_ms=end)


def test_segments_may_touch_and_are_listed_by_start_then_name(call):
    segment(call, "b", 20_000, 30_000)
    segment(call, "a", 10_000, 20_000)
    segment(call, "c", 0, 10_000)

    assert [(m.name, m.start_ms, m.end_ms) for m in markers_of(call)] == [
        ("c", 0, 10_000),
        ("a", 10_000, 20_000),
        ("b", 20_000, 30_000),
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [(15_000, 25_000), (5_000, 35_000), (11_000, 12_000), (0, 10_001), (29_999, 40_000)],
)
def test_an_overlapping_segment_is_refused(call, start, end):
    segment(call, "Sale", 10_000, 30_000)

    with pytest.raises(MarkerRefused, match="overlap"):
        segment(call, "Other", start, end)
    assert Marker.objects.count() == 1


def test_names_are_unique_per_call_but_case_sensitive(call):
    segment(call, "Sale", 0, 1_000)

    with pytest.raises(MarkerRefused) as refused:
        segment(call, "Sale", 5_000, 6_000)
    assert refused.value.name == "mname"
    segment(call, "sale", 5_000, 6_000)
    segment(CallFactory(), "Sale", 0, 1_000)


@pytest.mark.parametrize(
    ("start", "end", "blamed"),
    [(0, 100_001, "mend"), (50_000, 50_000, "mend"), (60_000, 50_000, "mend")],
)
def test_a_segment_must_lie_within_the_call_and_end_after_it_starts(call, start, end, blamed):
    with pytest.raises(MarkerRefused) as refused:
        segment(call, "Sale", start, end)
    assert refused.value.name == blamed


def test_the_whole_call_is_a_valid_segment(call):
    segment(call, "All", 0, 100_000)


@pytest.mark.parametrize("name", ["", "x" * 65, "tab\there"])
def test_a_bad_name_is_refused(call, name):
    with pytest.raises(MarkerRefused) as refused:
        segment(call, name, 0, 1_000)
    assert refused.value.name == "mname"


def test_a_marker_opened_now_is_closed_later_and_only_then_listed(live_call):
    now = timezone.now()
    opened = add_marker(live_call.pk, "Hold", Mode.START, now=now)
    assert opened.is_open and markers_of(live_call) == []

    closed = add_marker(live_call.pk, "Hold", Mode.END, now=now + timedelta(seconds=5))

    assert closed.end_ms - closed.start_ms == 5_000
    assert abs(closed.start_ms - 30_000) < 1_000
    assert markers_of(live_call) == [closed]


def test_an_open_marker_blocks_markers_after_its_start(live_call):
    now = timezone.now()
    add_marker(live_call.pk, "Hold", Mode.START, now=now)

    with pytest.raises(MarkerRefused, match="overlap"):
        add_marker(live_call.pk, "Other", Mode.START, now=now + timedelta(seconds=1))
    segment(live_call, "Before", 0, 1_000)


def test_a_marker_can_be_started_only_on_a_call_in_progress(call):
    with pytest.raises(MarkerRefused) as refused:
        add_marker(call.pk, "Hold", Mode.START)
    assert refused.value.name == "mmode"


def test_closing_needs_an_open_marker_of_that_name(live_call):
    segment(live_call, "Done", 0, 1_000)

    for name in ("Done", "Nothing"):
        with pytest.raises(MarkerRefused, match="no open marker"):
            add_marker(live_call.pk, name, Mode.END)


def test_a_marker_closed_after_the_call_ended_ends_with_the_call(live_call):
    now = timezone.now()
    add_marker(live_call.pk, "Hold", Mode.START, now=now)
    live_call.ended_at = now + timedelta(seconds=10)
    live_call.save()

    closed = add_marker(live_call.pk, "Hold", Mode.END, now=now + timedelta(minutes=5))

    length = live_call.ended_at - live_call.started_at
    assert closed.end_ms == round(length.total_seconds() * 1000)
