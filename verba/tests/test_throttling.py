"""Throttling (code 7, HTTP 429, Retry-After), keyed per key or per client address."""

import uuid

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apikeys.services import create_api_key
from verba.throttling import Rate, parse_rate

pytestmark = pytest.mark.django_db


def _status(response) -> tuple[int, int]:
    code = int(response.content.split(b'<Response code="', 1)[1].split(b'"', 1)[0])
    return response.status_code, code


def test_requests_beyond_the_rate_get_429_and_code_7(api, key, settings):
    settings.API_THROTTLE = "3/min"
    results = [_status(api(action="GetCallURL", apiKey=key)) for _ in range(4)]
    assert results == [(200, 1)] * 3 + [(429, 7)]


def test_retry_after_says_when_the_next_request_is_allowed(api, key, settings):
    settings.API_THROTTLE = "2/min"
    for _ in range(2):
        api(action="GetCallURL", apiKey=key)
    response = api(action="GetCallURL", apiKey=key)
    assert response["Retry-After"] == "30"


def test_the_rate_refills_over_time(api, key, settings):
    settings.API_THROTTLE = "1/sec"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 429
    with time_machine.travel(start, tick=False) as traveller:
        traveller.shift(1.1)
        assert _status(api(action="GetCallURL", apiKey=key))[0] == 200


def test_each_key_has_its_own_allowance(api, key, settings):
    settings.API_THROTTLE = "1/min"
    _, other = create_api_key("Other")
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 200
    assert _status(api(action="GetCallURL", apiKey=other))[0] == 200
    assert _status(api(action="GetCallURL", apiKey=key))[0] == 429


def test_one_key_is_one_allowance_across_client_addresses(client, key, settings):
    settings.API_THROTTLE = "1/min"
    params = {"action": "GetCallURL", "apiKey": key}
    assert client.get("/verba/api", params, REMOTE_ADDR="192.0.2.1").status_code == 200
    assert client.get("/verba/api", params, REMOTE_ADDR="192.0.2.2").status_code == 429


def test_unknown_keys_share_the_allowance_of_their_client_address(client, settings):
    settings.API_THROTTLE = "2/min"

    def guess(address):
        params = {"action": "GetCallURL", "apiKey": str(uuid.uuid4())}
        return client.get("/verba/api", params, REMOTE_ADDR=address).status_code

    assert [guess("192.0.2.1") for _ in range(3)] == [200, 200, 429]
    assert guess("192.0.2.2") == 200


def test_off_switches_throttling_off(api, key, settings):
    settings.API_THROTTLE = "off"
    assert {api(action="GetCallURL", apiKey=key).status_code for _ in range(50)} == {200}


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("600/min", Rate(600, 60)),
        ("10/sec", Rate(10, 1)),
        ("5 / hour", Rate(5, 3600)),
        ("1/day", Rate(1, 86400)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_are_read_from_the_setting(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "10/fortnight", "0/min", "-1/min", "10"])
def test_a_bad_rate_is_a_configuration_error_that_says_what_to_write(text):
    with pytest.raises(ImproperlyConfigured, match="600/min"):
        parse_rate(text)


def test_a_bad_rate_is_reported_by_the_system_checks(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.API_THROTTLE = "lots"
    with pytest.raises(SystemCheckError, match=r"verba\.E001"):
        call_command("check")
