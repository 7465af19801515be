"""The staff pages through full HTTP requests: access, the call page and the call list."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.models import Call
from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_user

pytestmark = pytest.mark.django_db

CALL_ID = "a8343631-9f35-4a3a-83f0-9e81592339fb"
# base64 of "0001-01-01T00:00:00+14:00|<CALL_ID>": a page position made by hand.
YEAR_ONE_CURSOR = (
    "MDAwMS0wMS0wMVQwMDowMDowMCsxNDowMHxhODM0MzYzMS05ZjM1LTRhM2EtODNmMC05ZTgxNTkyMzM5ZmI"
)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def plain_client(client, django_user_model):
    """Logged in as a user whose directory access is none."""
    user = directory_user("visitor", access=Access.NONE, password="pw-visitor-1")
    client.force_login(user)
    return client


def listed_ids(response) -> list[str]:
    """Call ids in the order the list page shows them."""
    return re.findall(r'href="/calls/([0-9a-f-]{36})/"', response.content.decode())


STAFF_URLS = [
    "/calls/",
    f"/calls/{CALL_ID}/",
    f"/calls/{CALL_ID}/recording",
    f"/calls/{CALL_ID}/download",
    f"/calls/{CALL_ID}/waveform.png",
    f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}",
    "/verba/gwtCallSearch.do?p_phone_number=8856",
]


# --- Access ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", STAFF_URLS)
def test_an_anonymous_visitor_is_sent_to_log_in_and_brought_back(client, url):
    response = client.get(url)

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/accounts/login/"
    assert parse_qs(target.query)["next"] == [url]


@pytest.mark.parametrize("url", STAFF_URLS)
def test_a_user_without_the_view_permission_gets_a_403_page(plain_client, url):
    CallFactory(id=CALL_ID)

    response = plain_client.get(url)

    assert response.status_code == 403
    assert "text/html" in response["Content-Type"]
    assert "Access denied" in response.content.decode()
    assert "access level “own” or “all”" in response.content.decode()


def test_logging_in_from_a_deep_link_lands_on_the_call_page(client, staff_user):
    CallFactory(id=CALL_ID, caller_number="+442071234567")
    deep_link = f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}"
    login_url = client.get(deep_link)["Location"]

    login_page = client.get(login_url)
    assert login_page.status_code == 200
    assert f'name="next" value="{deep_link}"' in login_page.content.decode().replace("&amp;", "&")

    response = client.post(
        login_url,
        {"username": "staff", "password": "pw-staff-1", "next": deep_link},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == deep_link
    assert "+442071234567" in response.content.decode()


def test_a_wrong_password_is_answered_on_the_login_page(client, staff_user):
    response = client.post("/accounts/login/", {"username": "staff", "password": "nope"})

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "nope" not in response.content.decode()


def test_logging_out_takes_a_post_and_ends_the_session(staff_client):
    response = staff_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert staff_client.get("/calls/").status_code == 302


@pytest.mark.parametrize("logout_url", ["/accounts/logout/", "/admin/logout/"])
def test_the_page_after_logging_out_says_so(staff_client, logout_url):
    response = staff_client.post(logout_url, follow=True)

    assert "You have logged out." in response.content.decode()
    assert "You have logged out." not in staff_client.get("/accounts/login/").content.decode()


def test_a_404_outside_the_call_pages_says_nothing_about_calls(staff_client):
    response = staff_client.get("/no/such/page")

    assert response.status_code == 404
    page = response.content.decode()
    assert "deleted" not in page
    assert "There is no page here." in page


def test_a_404_of_a_call_page_says_the_call_may_have_been_deleted(staff_client):
    response = staff_client.get(f"/calls/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert "the call may have been deleted" in response.content.decode()


def test_browsers_asking_for_favicon_ico_get_the_site_icon(client):
    response = client.get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0].endswith("favicon.svg")


def test_the_home_page_says_when_a_call_in_progress_started_and_how_long_it_has_run(
    staff_client,
):
    CallFactory(started_at=timezone.now() - timedelta(minutes=6, seconds=54), ended_at=None)

    page = staff_client.get("/").content.decode()

    assert re.search(r"started at \d\d:\d\d, running for <span[^>]*>6:5\d</span>", page)


def test_an_open_redirect_after_login_is_refused(client, staff_user):
    response = client.post(
        "/accounts/login/",
        {"username": "staff", "password": "pw-staff-1", "next": "https://evil.example/"},
    )

    assert response["Location"] == "/"


def test_the_home_page_links_every_staff_page(staff_client):
    CallFactory(ended_at=None, started_at=timezone.now() - timedelta(minutes=2))

    page = staff_client.get("/").content.decode()

    assert 'href="/calls/"' in page
    assert 'href="/calls/?state=in_progress"' in page
    assert 'href="/admin/"' in page
    assert 'href="/api/v1/docs"' in page
    assert 'href="/verba/docs"' in page
    assert 'action="/calls/"' in page  # the quick search
    assert "In progress now" in page
    assert listed_ids_in(page)


def test_the_business_api_reference_is_served_as_text_to_anyone(client):
    response = client.get("/verba/docs")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.startswith(b"# The Business API (`/verba/api`)")
    assert client.post("/verba/docs").status_code == 405


def listed_ids_in(page: str) -> list[str]:
    return re.findall(r'href="/calls/([0-9a-f-]{36})/"', page)


def test_the_home_page_asks_anonymous_visitors_to_log_in_and_shows_no_calls(client):
    CallFactory()

    page = client.get("/").content.decode()

    assert 'href="/accounts/login/"' in page
    assert not listed_ids_in(page)


def test_a_user_without_permission_sees_how_to_get_it_on_the_home_page(plain_client):
    CallFactory()

    page = plain_client.get("/").content.decode()

    assert "access level is “none”" in page
    assert not listed_ids_in(page)


def test_a_new_user_with_own_access_opens_the_pages_without_any_permission(client):
    user = directory_user("newhire", access=Access.OWN, password="pw-new-1")
    client.force_login(user)

    assert client.get("/calls/").status_code == 200


# --- The call page ---------------------------------------------------------------------


def test_the_call_page_shows_every_field_of_a_finished_call(staff_client):
    CallFactory(
        id=CALL_ID,
        caller_number="+442071234567",
        caller_name="Ada Lovelace",
        called_number="8856",
        called_name="Help desk",
        started_at=datetime(2026, 11, 20, 9, 15, 0, tzinfo=UTC),
        ended_at=datetime(2026, 11, 20, 9, 17, 5, tzinfo=UTC),
        direction="inbound",
        native_id="native-42",
        platform_call_id="abc@pbx",
        keep=True,
    )

    response = staff_client.get(f"/calls/{CALL_ID}/")
    page = response.content.decode()

    assert response.status_code == 200
    for text in (
        "+442071234567",
        "Ada Lovelace",
        "8856",
        "Help desk",
        "2026-11-20 09:15:00",
        "2026-11-20 09:17:05",
        "2:05",
        "Finished",
        "Inbound",
        "native-42",
        "abc@pbx",
        CALL_ID,
        "Kept: never deleted",
        "Copy link",
    ):
        assert text in page.replace("<wbr>", ""), text
    # The id may wrap after its hyphens only.
    assert f'<code class="guid">{CALL_ID.replace("-", "-<wbr>")}</code>' in page
    assert "No recording is attached" in page
    assert "<audio" not in page


def test_the_verba_deep_link_shows_the_same_call_page(staff_client):
    CallFactory(id=CALL_ID, caller_number="+442071234567")

    by_path = staff_client.get(f"/calls/{CALL_ID}/")
    by_deep_link = staff_client.get(f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}")

    assert by_deep_link.status_code == 200
    assert without_csrf_token(by_deep_link) == without_csrf_token(by_path)


def without_csrf_token(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_the_deep_link_accepts_an_upper_case_guid(staff_client):
    CallFactory(id=CALL_ID)

    response = staff_client.get(f"/verba/gwtCallDetail.do?ccdrId={CALL_ID.upper()}")

    assert response.status_code == 200


def test_an_in_progress_call_shows_its_running_duration(staff_client):
    with time_machine.travel("2026-11-26 10:00:00+00:00", tick=False):
        CallFactory(
            id=CALL_ID, started_at=timezone.now() - timedelta(minutes=3, seconds=7), ended_at=None
        )

        page = staff_client.get(f"/calls/{CALL_ID}/").content.decode()

    assert "In progress" in page
    assert "Still going on" in page
    assert 'data-running-seconds="187"' in page
    assert "3:07" in page


def test_a_call_without_an_end_for_longer_than_the_maximum_is_not_shown_as_going_on(
    staff_client, settings
):
    settings.MAX_CALL_LENGTH_HOURS = 24
    CallFactory(id=CALL_ID, started_at=timezone.now() - timedelta(hours=25), ended_at=None)

    page = staff_client.get(f"/calls/{CALL_ID}/").content.decode()

    assert "No end recorded" in page
    assert "data-running-seconds" not in page


def test_the_copy_link_is_the_url_getcallurl_returns(staff_client, settings):
    settings.PUBLIC_URL = "https://calls.example.com"
    CallFactory(id=CALL_ID)

    page = staff_client.get(f"/calls/{CALL_ID}/").content.decode()

    assert f'value="https://calls.example.com/verba/gwtCallDetail.do?ccdrId={CALL_ID}"' in page


def test_without_a_public_url_the_copy_link_uses_the_requested_host(staff_client):
    CallFactory(id=CALL_ID)

    page = staff_client.get(f"/calls/{CALL_ID}/", HTTP_HOST="localhost").content.decode()

    assert f'value="http://localhost/verba/gwtCallDetail.do?ccdrId={CALL_ID}"' in page


@pytest.mark.parametrize(
    "url",
    [
        f"/calls/{uuid.uuid4()}/",
        "/calls/not-a-guid/",
        f"/verba/gwtCallDetail.do?ccdrId={uuid.uuid4()}",
        "/verba/gwtCallDetail.do?ccdrId=not-a-guid",
        f"/verba/gwtCallDetail.do?ccdrId={{{CALL_ID}}}",
        f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}x",
        f"/verba/gwtCallDetail.do?ccdrId={CALL_ID}%0A",
        f"/verba/gwtCallDetail.do?ccdrId=urn:{CALL_ID.replace('-', '')}",
        f"/verba/gwtCallDetail.do?ccdrId={CALL_ID.replace('-', '')}----",
        f"/verba/gwtCallDetail.do?ccdrId={CALL_ID.replace('8', '%EF%BC%98', 1)}",
        "/verba/gwtCallDetail.do?ccdrId=",
        "/verba/gwtCallDetail.do",
    ],
)
def test_an_unknown_or_malformed_call_id_gets_the_404_page(staff_client, url):
    CallFactory(id=CALL_ID)

    response = staff_client.get(url)

    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]
    assert "Not found" in response.content.decode()
    assert 'href="/calls/"' in response.content.decode()


def test_call_data_is_html_escaped(staff_client):
    CallFactory(id=CALL_ID, caller_name="<script>alert(1)</script>")

    page = staff_client.get(f"/calls/{CALL_ID}/").content.decode()

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_staff_pages_refuse_a_post(staff_client):
    assert staff_client.post("/calls/").status_code == 405


# --- The call list ---------------------------------------------------------------------


def test_the_list_shows_the_newest_call_first_and_links_each_row(staff_client):
    now = timezone.now()
    old = CallFactory(started_at=now - timedelta(days=2))
    new = CallFactory(started_at=now - timedelta(minutes=5))
    middle = CallFactory(started_at=now - timedelta(hours=3))

    response = staff_client.get("/calls/")

    assert response.status_code == 200
    assert listed_ids(response) == [str(new.pk), str(middle.pk), str(old.pk)]


def test_searching_by_number_finds_calls_from_and_to_it(staff_client):
    now = timezone.now()
    outgoing = CallFactory(caller_number="8856", called_number="+1555", started_at=now)
    incoming = CallFactory(
        caller_number="+1666", called_number="8856", started_at=now - timedelta(hours=1)
    )
    itself = CallFactory(
        caller_number="8856", called_number="8856", started_at=now - timedelta(hours=2)
    )
    CallFactory(caller_number="+1777", called_number="8857")
    CallFactory(caller_number="88561", called_number="+1888")

    response = staff_client.get("/calls/", {"number": " 8856 "})

    assert listed_ids(response) == [str(outgoing.pk), str(incoming.pk), str(itself.pk)]


def test_the_number_search_is_two_index_scans_not_an_or(staff_client):
    CallFactory(caller_number="8856")
    CallFactory(called_number="8856")

    with CaptureQueriesContext(connection) as queries:
        staff_client.get("/calls/", {"number": "8856"})

    call_queries = [q["sql"] for q in queries.captured_queries if '"calls_call"' in q["sql"]]
    assert len(call_queries) == 2
    for sql in call_queries:
        assert " OR " not in sql.upper()
        assert "COUNT(" not in sql.upper()


def test_a_part_of_a_number_finds_calls_with_it_on_either_side(staff_client):
    now = timezone.now()
    calling = CallFactory(caller_number="+442071234567", called_number="8856", started_at=now)
    called = CallFactory(
        caller_number="8857", called_number="+15551234599", started_at=now - timedelta(hours=1)
    )
    CallFactory(caller_number="+442079999999", called_number="8858")

    response = staff_client.get("/calls/", {"number_part": " 1234 "})

    assert listed_ids(response) == [str(calling.pk), str(called.pk)]


def test_a_part_of_a_name_finds_calls_in_any_letter_case(staff_client):
    now = timezone.now()
    ada = CallFactory(caller_name="Ada Lovelace", called_name="Acme Ltd", started_at=now)
    to_ada = CallFactory(
        caller_name="Globex", called_name="ADA LOVELACE", started_at=now - timedelta(hours=1)
    )
    CallFactory(caller_name="Alan Turing", called_name="Grace Hopper")

    response = staff_client.get("/calls/", {"name": "lovelace"})

    assert listed_ids(response) == [str(ada.pk), str(to_ada.pk)]


def test_the_list_shows_which_calls_have_a_recording_in_words(staff_client, media_root):
    now = timezone.now()
    recorded = CallFactory(started_at=now)
    recorded.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    silent = CallFactory(started_at=now - timedelta(hours=1))

    html = staff_client.get("/calls/").content.decode()

    assert '<th scope="col">Recording</th>' in html
    rows = html.split("<tr>")[2:]
    assert [str(recorded.pk) in row and "Recorded</span>" in row for row in rows[:1]] == [True]
    assert str(silent.pk) in rows[1] and "No recording" in rows[1] and "Recorded" not in rows[1]


def test_the_recording_filter_lists_calls_with_or_without_one(staff_client, media_root):
    now = timezone.now()
    recorded = CallFactory(started_at=now)
    recorded.recording.save("call.wav", ContentFile(b"RIFF----WAVE"))
    silent = CallFactory(started_at=now - timedelta(hours=1))

    assert listed_ids(staff_client.get("/calls/", {"recording": "with"})) == [str(recorded.pk)]
    assert listed_ids(staff_client.get("/calls/", {"recording": "without"})) == [str(silent.pk)]
    assert len(listed_ids(staff_client.get("/calls/", {"recording": ""}))) == 2


def test_the_search_fields_combine_and_travel_with_the_page_links(staff_client):
    now = timezone.now()
    wanted = [
        CallFactory(
            caller_number=f"+44207123{n:04d}",
            caller_name="Ada Lovelace",
            started_at=now - timedelta(minutes=n),
        )
        for n in range(51)
    ]
    CallFactory(caller_number="+442071239999", caller_name="Ada Lovelace")  # no recording
    CallFactory(caller_number="+442071239998", caller_name="Alan Turing")
    CallFactory(caller_number="+442079999999", caller_name="Ada Lovelace")
    Call.objects.filter(pk__in=[c.pk for c in wanted]).update(recording="recordings/x.wav")
    Call.objects.filter(caller_number="+442071239998").update(recording="recordings/y.wav")
    Call.objects.filter(caller_number="+442079999999").update(recording="recordings/z.wav")

    query = {"number_part": "7123", "name": "ada", "recording": "with"}
    first = staff_client.get("/calls/", query)
    second = staff_client.get(f"/calls/?{_link(first, 'next')}")

    assert listed_ids(first) + listed_ids(second) == [str(c.pk) for c in wanted]
    assert parse_qs(_link(first, "next")).keys() >= query.keys()


def test_the_verba_search_link_opens_the_list_filtered_the_same_way(staff_client):
    response = staff_client.get(
        "/verba/gwtCallSearch.do",
        {"p_phone_number": "8856", "p_date_from": "2026-11-01", "p_date_to": "2026-11-30 12:00"},
    )

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/calls/"
    assert parse_qs(target.query) == {
        "number": ["8856"],
        "date_from": ["2026-11-01"],
        "date_to": ["2026-11-30 12:00"],
    }


def test_the_verba_search_link_without_filters_opens_the_whole_list(staff_client):
    response = staff_client.get("/verba/gwtCallSearch.do")

    assert response["Location"] == "/calls/"


def test_a_date_range_includes_the_whole_last_day(staff_client):
    def at(day: int, hour: int, minute: int = 0):
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    CallFactory(started_at=at(9, 23, 59))
    first = CallFactory(started_at=at(10, 0))
    last = CallFactory(started_at=at(12, 23, 59))
    CallFactory(started_at=at(13, 0))

    response = staff_client.get("/calls/", {"date_from": "2026-11-10", "date_to": "2026-11-12"})

    assert listed_ids(response) == [str(last.pk), str(first.pk)]


def test_a_range_with_times_includes_the_minute_it_names(staff_client):
    inside = CallFactory(started_at=datetime(2026, 11, 10, 10, 15, 30, tzinfo=UTC))
    CallFactory(started_at=datetime(2026, 11, 10, 10, 16, 0, tzinfo=UTC))
    CallFactory(started_at=datetime(2026, 11, 10, 10, 14, 59, tzinfo=UTC))

    response = staff_client.get(
        "/calls/", {"date_from": "2026-11-10 10:15", "date_to": "2026-11-10 10:15"}
    )

    assert listed_ids(response) == [str(inside.pk)]


def test_a_range_with_seconds_is_exact_to_the_second(staff_client):
    inside = CallFactory(started_at=datetime(2026, 11, 10, 10, 15, 30, tzinfo=UTC))
    CallFactory(started_at=datetime(2026, 11, 10, 10, 15, 31, tzinfo=UTC))

    response = staff_client.get(
        "/calls/", {"date_from": "2026-11-10 10:15:30", "date_to": "2026-11-10 10:15:30"}
    )

    assert listed_ids(response) == [str(inside.pk)]


def test_dates_are_read_in_the_user_s_own_time_zone(staff_client, staff_user, settings):
    settings.TIME_ZONE = "America/New_York"  # the user's own zone wins
    staff_user.directory_profile.time_zone = "Europe/Berlin"
    staff_user.directory_profile.save()
    # 23:30 UTC on the 9th is 00:30 on the 10th in Berlin.
    inside = CallFactory(started_at=datetime(2026, 11, 9, 23, 30, tzinfo=UTC))
    CallFactory(started_at=datetime(2026, 11, 9, 22, 30, tzinfo=UTC))

    response = staff_client.get("/calls/", {"date_from": "2026-11-10", "date_to": "2026-11-10"})

    assert listed_ids(response) == [str(inside.pk)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "26.11.2026"}, "Enter a date as YYYY-MM-DD"),
        ({"date_to": "2026-02-30"}, "Enter a date as YYYY-MM-DD"),
        ({"date_from": "9999-12-31"}, "Enter a date as YYYY-MM-DD"),
        ({"date_from": "2026-11-26 25:00"}, "Enter a date as YYYY-MM-DD"),
        ({"date_from": "2026-11-27", "date_to": "2026-11-26"}, "must be after its start"),
        ({"number": "1" * 65}, "at most 64 characters"),
        ({"state": "sleeping"}, "Select a valid choice"),
        ({"before": "garbage"}, "page link is not valid"),
        ({"before": YEAR_ONE_CURSOR}, "page link is not valid"),
        ({"number": "88\x0056"}, "Null characters are not allowed"),
        ({"number_part": "1" * 65}, "at most 64 characters"),
        ({"name": "x" * 256}, "at most 255 characters"),
        ({"name": "Ada\x07"}, "without control characters"),
        ({"recording": "maybe"}, "Select a valid choice"),
        ({"date_from": "2026-11-26\x00"}, "Null characters are not allowed"),
    ],
)
def test_bad_search_input_gets_a_clear_message(staff_client, params, message):
    CallFactory()

    response = staff_client.get("/calls/", params)

    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]
    assert message in response.content.decode()
    assert not listed_ids(response)


def test_the_state_filter_separates_calls_in_progress_from_finished_ones(staff_client):
    now = timezone.now()
    going = CallFactory(started_at=now - timedelta(minutes=1), ended_at=None)
    done = CallFactory(started_at=now - timedelta(hours=1))
    lost = CallFactory(started_at=now - timedelta(days=3), ended_at=None)

    assert listed_ids(staff_client.get("/calls/", {"state": "in_progress"})) == [str(going.pk)]
    assert listed_ids(staff_client.get("/calls/", {"state": "finished"})) == [str(done.pk)]
    assert listed_ids(staff_client.get("/calls/", {"state": "no_end"})) == [str(lost.pk)]
    assert len(listed_ids(staff_client.get("/calls/"))) == 3


def test_an_empty_search_says_so(staff_client):
    CallFactory(caller_number="+1555", called_number="8857")

    response = staff_client.get("/calls/", {"number": "8856"})

    assert response.status_code == 200
    assert "No calls match this search." in response.content.decode()


def test_pages_walk_through_every_call_once_even_with_equal_start_times(staff_client):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    # 120 calls, three per start time, so that page edges fall inside a tie.
    calls = [CallFactory(started_at=start - timedelta(seconds=n // 3)) for n in range(120)]
    expected = [
        str(c.pk) for c in sorted(calls, key=lambda c: (c.started_at, c.pk.int), reverse=True)
    ]

    seen: list[str] = []
    url, params = "/calls/", {}
    pages = 0
    while True:
        response = staff_client.get(url, params)
        seen += listed_ids(response)
        pages += 1
        older = re.search(r'href="\?([^"]+)" rel="next"', response.content.decode())
        if not older:
            break
        params = {k: v[0] for k, v in parse_qs(older.group(1).replace("&amp;", "&")).items()}

    assert pages == 3
    assert seen == expected


def test_paging_back_to_newer_calls_shows_the_previous_page_again(staff_client):
    start = timezone.now() - timedelta(hours=1)
    for n in range(130):
        CallFactory(caller_number="8856", started_at=start - timedelta(minutes=n))

    first = staff_client.get("/calls/", {"number": "8856"})
    second = staff_client.get("/calls/?" + _link(first, "next"))
    third = staff_client.get("/calls/?" + _link(second, "next"))
    back = staff_client.get("/calls/?" + _link(third, "prev"))

    assert len(listed_ids(first)) == 50
    assert len(listed_ids(third)) == 30
    assert listed_ids(back) == listed_ids(second)
    assert set(listed_ids(first)).isdisjoint(listed_ids(second))
    assert "number=8856" in _link(back, "prev")  # the search is kept while paging


def _link(response, rel: str) -> str:
    match = re.search(rf'href="\?([^"]+)" rel="{rel}"', response.content.decode())
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def test_the_list_costs_the_same_few_queries_whatever_the_page(
    staff_client, django_assert_max_num_queries
):
    for n in range(60):
        CallFactory(caller_number="8856", started_at=timezone.now() - timedelta(minutes=n))
    first = staff_client.get("/calls/", {"number": "8856"})

    # session + user + permissions + two index scans + the access log's event
    with django_assert_max_num_queries(7):
        staff_client.get("/calls/?" + _link(first, "next"))


def test_a_login_form_without_its_csrf_token_gets_a_page_that_says_what_to_do(staff_user):
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": "staff", "password": "pw-staff-1"}
    )

    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert "pw-staff-1" not in response.content.decode()
