import io
import re
import wave
from collections import defaultdict
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.http import HttpRequest

from apikeys import secrets
from apikeys.models import ApiKey
from calls.models import Call, Direction
from demo import data as demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def run_demo(*args: str) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


def printed(label: str, output: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)$", output, re.MULTILINE)
    assert match, f"{label} not printed"
    return match.group(1)


def test_it_loads_calls_a_staff_user_and_a_key_that_work():
    out = run_demo()

    user = authenticate(HttpRequest(), username="demo", password=printed("Password", out))
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
    assert authenticate(HttpRequest(), username="demo", password=printed("Password", first)) is None
    assert (
        authenticate(HttpRequest(), username="demo", password=printed("Password", second))
        is not None
    )


def test_running_it_again_keeps_times_recordings_and_admin_edits():
    run_demo()
    before = {c.pk: c for c in Call.objects.all()}
    edited = Call.objects.exclude(recording="").first()
    Call.objects.filter(pk=edited.pk).update(caller_name="Renamed by an admin", keep=True)
    unrecorded = Call.objects.exclude(recording="").exclude(pk=edited.pk).first()
    Call.objects.filter(pk=unrecorded.pk).update(recording="")

    run_demo()

    after = {c.pk: c for c in Call.objects.all()}
    assert after.keys() == before.keys()
    for pk, call in before.items():
        assert (after[pk].started_at, after[pk].ended_at) == (call.started_at, call.ended_at)
    assert after[edited.pk].caller_name == "Renamed by an admin"
    assert after[edited.pk].keep is True
    assert after[edited.pk].recording.name == before[edited.pk].recording.name
    assert after[unrecorded.pk].recording.name == ""


def test_the_newest_finished_calls_have_short_playable_recordings():
    out = run_demo()

    recorded = Call.objects.exclude(recording="")
    assert recorded.count() >= 20
    for call in recorded:
        assert call.ended_at is not None
        assert call.recording_content_type == "audio/wav"
        with call.recording.open("rb") as f, wave.open(io.BytesIO(f.read())) as audio:
            seconds = audio.getnframes() / audio.getframerate()
            frames = audio.readframes(audio.getnframes())
        assert 2 <= seconds <= 10
        assert len(set(frames)) > 100  # sound, not silence
    assert f"/calls/{recorded.order_by('-started_at').first().pk}/" in printed_line(
        "A recording", out
    )


def test_directions_and_names_follow_the_numbers():
    run_demo()

    names = defaultdict(set)
    for call in Call.objects.all():
        caller_inside = call.caller_number in demo.EXTENSIONS
        called_inside = call.called_number in demo.EXTENSIONS
        expected = (
            Direction.INTERNAL
            if caller_inside and called_inside
            else Direction.OUTBOUND
            if caller_inside
            else Direction.INBOUND
        )
        assert call.direction == expected, call
        assert caller_inside or called_inside, call
        names[call.caller_number].add(call.caller_name)
        names[call.called_number].add(call.called_name)
    assert all(len(seen) == 1 for seen in names.values())
    assert all(next(iter(names[ext])) for ext in demo.EXTENSIONS if ext in names)
    kinds = set(Call.objects.values_list("direction", flat=True))
    assert kinds == {Direction.INBOUND, Direction.OUTBOUND, Direction.INTERNAL}


def test_it_prints_urls_on_the_address_gunicorn_binds(monkeypatch):
    monkeypatch.setenv("BIND", "127.0.0.1:8101")

    out = run_demo()

    urls = re.findall(r"https?://\S+", out)
    assert len(urls) >= 6
    assert all(url.startswith("http://127.0.0.1:8101/") for url in urls)


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("[::]:8080", "http://[::1]:8080"),
        ("localhost", "http://localhost:8000"),
        (None, "http://127.0.0.1:8000"),
    ],
)
def test_wildcard_and_partial_binds_print_a_url_that_works_here(bind, url):
    assert demo.base_url(bind) == url


def test_it_prints_public_url_when_set(settings):
    settings.PUBLIC_URL = "https://calls.example.com"

    assert printed("Admin", run_demo()) == "https://calls.example.com/admin/"


def printed_line(label: str, output: str) -> str:
    return printed(label, output)


def login_of(username: str, output: str) -> str:
    match = re.search(rf"^  {username}\s+(\S+)\s", output, re.MULTILINE)
    assert match, f"no log-in printed for {username}"
    return match.group(1)


def test_the_directory_s_three_log_ins_each_see_their_own_slice_of_the_calls(client):
    from directory.scopes import user_scope

    out = run_demo()

    seen = {}
    for username in ("agent", "lead", "compliance"):
        user = authenticate(HttpRequest(), username=username, password=login_of(username, out))
        assert user is not None, username
        seen[username] = set(user_scope(user).filter(Call.objects.all()).values_list("pk"))
        client.force_login(user)
        assert client.get("/calls/").status_code == 200
    assert 0 < len(seen["agent"]) < len(seen["lead"]) < len(seen["compliance"])
    assert seen["agent"] <= seen["lead"]
    assert len(seen["compliance"]) == Call.objects.count()


def test_the_printed_key_may_add_markers_and_attach_metadata(client):
    out = run_demo()
    key = printed("API key", out)
    call = Call.objects.exclude(recording="").order_by("-started_at").first()

    marker = client.get(
        "/verba/api",
        {"action": "AddMarker", "apiKey": key, "callID": call.pk, "mname": "Check",
         "mstart": "4", "mend": "4.5", "responseType": "JSON"},
    )  # fmt: skip
    metadata = client.get(
        "/verba/api",
        {"action": "AttachMetaData", "apiKey": key, "callID": call.pk, "ticket": "T-1",
         "responseType": "JSON"},
    )  # fmt: skip

    assert marker.json()["code"] == 0, marker.json()
    assert metadata.json()["code"] == 0, metadata.json()
    for url in re.findall(r"https?://\S+action=(?:AddMarker|AttachMetaData)\S+", out):
        path = url.split("/", 3)[3]
        assert client.get("/" + path).content.count(b'code="0"') == 1, url


def test_a_newcomer_finds_markers_and_custom_fields_on_the_call_pages(client):
    from calls.models import Marker, MetadataValue

    run_demo()
    recorded = Call.objects.exclude(recording="")

    assert all(Marker.objects.filter(call=c).count() >= 2 for c in recorded)
    assert MetadataValue.objects.filter(field__identifier="ticket").count() >= 100
    valued = MetadataValue.objects.filter(call__in=recorded).first().call
    client.force_login(django_superuser())
    page = client.get(f"/calls/{valued.pk}/").content.decode()
    assert "Ticket" in page and "Greeting" in page


def django_superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="demo")
