"""The one reader of written dates and times, and its rule for times without an offset."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.times import NaiveTime, parse_datetime


def test_a_time_without_an_offset_is_read_as_utc_whatever_the_servers_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"

    assert parse_datetime(" 2026-11-26T14:03:00 ") == datetime(2026, 11, 26, 14, 3, tzinfo=UTC)


def test_a_time_with_an_offset_comes_back_in_utc():
    parsed = parse_datetime("2026-11-26T15:03:00+01:00")

    assert parsed == datetime(2026, 11, 26, 14, 3, tzinfo=UTC)
    assert parsed.utcoffset() == timedelta(0)


def test_a_reader_that_needs_an_offset_refuses_a_time_without_one():
    with pytest.raises(NaiveTime):
        parse_datetime("2026-11-26T14:03:00", naive_is_utc=False)
    assert parse_datetime("2026-11-26T14:03:00Z", naive_is_utc=False).hour == 14


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01T00:00:00",
        "２０２６-11-26T14:03:00",  # full-width digits
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    ],
)
def test_anything_else_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_datetime(text)
