from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys import secrets
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_new_key_as_the_only_line():
    out = run("CRM integration")

    lines = out.splitlines()
    assert len(lines) == 1
    key = ApiKey.objects.get()
    assert key.name == "CRM integration"
    assert key.key_digest == secrets.digest(lines[0])
    assert key.can_query and not key.can_ingest and not key.requires_auth
    assert not key.can_change


def test_it_sets_every_option():
    out = run(
        "Recorder",
        "--requires-auth",
        "--network",
        "10.0.0.0/8",
        "--network",
        "2001:db8::1",
        "--ingest",
        "--change",
        "--no-query",
        "--expires",
        "2030-01-31",
    )

    key = ApiKey.objects.get()
    assert key.key_digest == secrets.digest(out.strip())
    assert key.requires_auth and key.can_ingest and key.can_change and not key.can_query
    assert key.networks == ["10.0.0.0/8", "2001:db8::1/128"]
    assert key.expires_at.date().isoformat() == "2030-01-31"


def test_it_imports_an_existing_guid():
    out = run("Migrated", "--key", "A8343631-9F35-4A3A-83F0-9E81592339FB")

    assert out == "a8343631-9f35-4a3a-83f0-9e81592339fb\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ab"], "name"),
        (["CRM", "--network", "10.0.0.300"], "10.0.0.300"),
        (["CRM", "--key", "12345"], "GUID"),
        (["CRM", "--expires", "31/01/2030"], "YYYY-MM-DD"),
    ],
)
def test_it_explains_bad_arguments_in_one_line_and_creates_nothing(args, message):
    with pytest.raises(CommandError) as exc:
        run(*args)

    assert message in str(exc.value)
    assert "\n" not in str(exc.value)
    assert not ApiKey.objects.exists()
