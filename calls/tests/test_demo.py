import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from apikeys import secrets
from apikeys.models import ApiKey
from calls.models import Call

pytestmark = pytest.mark.django_db


def run_demo() -> str:
    out = StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def printed(label: str, output: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)$", output, re.MULTILINE)
    assert match, f"{label} not printed"
    return match.group(1)


def test_it_loads_calls_a_staff_user_and_a_key_that_work():
    out = run_demo()

    user = authenticate(username="demo", password=printed("Password", out))
    assert user is not None and user.is_staff and user.has_perm("calls.view_call")
    assert ApiKey.objects.get(key_digest=secrets.digest(printed("API key", out))).is_usable
    assert 300 <= Call.objects.count() <= 1000
    numbers = set(Call.objects.values_list("called_number", flat=True)) | set(
        Call.objects.values_list("caller_number", flat=True)
    )
    assert len({n for n in numbers if n.isdigit() and len(n) == 4}) >= 24
    assert Call.objects.filter(ended_at__isnull=True).exists()


def test_it_prints_example_urls_for_every_response_type():
    out = run_demo()

    for response_type in ("XML", "HTML", "TEXT", "JSON"):
        assert f"responseType={response_type}" in out
    assert "action=GetCallURL" in out


def test_running_it_again_adds_nothing_and_prints_fresh_credentials():
    first = run_demo()
    calls, keys = Call.objects.count(), ApiKey.objects.count()

    second = run_demo()

    assert (Call.objects.count(), ApiKey.objects.count()) == (calls, keys)
    assert printed("API key", second) != printed("API key", first)
    assert authenticate(username="demo", password=printed("Password", first)) is None
    assert authenticate(username="demo", password=printed("Password", second)) is not None
