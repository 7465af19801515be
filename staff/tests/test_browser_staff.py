"""The staff pages in Debian's Chromium against the live server, as staff use them."""

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from calls.tests.factories import CallFactory
from directory.models import Access
from directory.tests.factories import directory_user
from staff.tests.test_recordings import wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


STAFF_LOGIN = ("staff", "pw-staff-1")  # the conftest's staff_user


def log_in(page: Page, login: tuple[str, str] = STAFF_LOGIN) -> None:
    page.get_by_label("User name").fill(login[0])
    page.get_by_label("Password").fill(login[1])
    page.get_by_role("button", name="Log in").click()


def test_a_link_from_getcallurl_leads_a_logged_out_user_through_login_to_the_call(
    page: Page, live_server, staff_user, api_key
):
    _, key = api_key
    call = CallFactory(
        caller_number="+442071234567",
        caller_name="Ada Lovelace",
        called_number="8856",
        started_at=timezone.now() - timedelta(minutes=2, seconds=5),
        ended_at=None,
    )
    query = urlencode(
        {
            "action": "GetCallURL",
            "apiKey": key,
            "responseType": "TEXT",
            "extension": "8856",
            "status": "ongoing",
        }
    )
    answer = page.request.get(f"{live_server.url}/verba/api?{query}")
    call_url = answer.text().strip()
    assert call_url == f"{live_server.url}/verba/gwtCallDetail.do?ccdrId={call.pk}"

    page.goto(call_url)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    log_in(page)

    expect(page).to_have_url(call_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Call from +442071234567 to 8856")
    expect(page.get_by_text("Ada Lovelace")).to_be_visible()
    # An in-progress call's duration keeps running in the page.
    timer = page.get_by_role("timer", name="Running duration")
    first = timer.inner_text()
    expect(timer).not_to_have_text(first, timeout=3000)
    assert re.fullmatch(r"2:\d\d", timer.inner_text())
    screenshot(page, "call-page")


def test_staff_find_calls_by_number_and_open_one(page: Page, live_server, staff_user):
    now = timezone.now()
    mine = [
        CallFactory(caller_number="8856", called_number="+15550001", started_at=now),
        CallFactory(
            caller_number="+15550002", called_number="8856", started_at=now - timedelta(hours=1)
        ),
    ]
    for n in range(5):
        CallFactory(caller_number=f"+1555009{n}", called_number="8857")

    page.goto(f"{live_server.url}/")
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    log_in(page)
    page.get_by_role("link", name="All calls").click()
    expect(page.locator("table.calls tbody tr")).to_have_count(7)

    page.get_by_label("Phone number").fill("8856")
    page.get_by_label("Phone number").press("Enter")

    rows = page.locator("table.calls tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("+15550001")
    expect(rows.nth(1)).to_contain_text("+15550002")
    screenshot(page, "call-list")
    # On a phone the table becomes cards: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "call-list-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    rows.nth(1).get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}/calls/{mine[1].pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Call from +15550002 to 8856")


def test_the_copy_link_button_puts_the_call_link_on_the_clipboard(
    page: Page, live_server, staff_user
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    call = CallFactory()
    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)

    page.get_by_role("button", name="Copy link").click()

    expect(page.get_by_role("status").filter(has_text="copied")).to_have_text(
        "Link copied to the clipboard."
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{live_server.url}/verba/gwtCallDetail.do?ccdrId={call.pk}"


def test_a_recording_plays_and_seeks(page: Page, live_server, staff_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=30)))
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.endswith("/recording") else None,
    )
    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)
    audio = page.locator("audio")
    expect(audio).to_be_visible()

    # A real click is the user gesture the autoplay policy asks for.
    audio.click()
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("document.querySelector('audio').currentTime > 0")
    page.evaluate(
        """() => new Promise((resolve) => {
            const audio = document.querySelector('audio');
            audio.addEventListener('seeked', resolve, {once: true});
            audio.currentTime = 25;
        })"""
    )

    position = page.evaluate("document.querySelector('audio').currentTime")
    assert 25 <= position < 30
    assert page.evaluate("document.querySelector('audio').duration") == pytest.approx(30, abs=0.1)
    # Seeking was served by range requests, not by downloading the file again.
    assert 206 in statuses


def test_a_user_without_permission_is_refused_and_sees_why(
    page: Page, live_server, django_user_model
):
    directory_user("visitor", access=Access.NONE, password="pw-visitor-1")
    call = CallFactory()

    page.goto(f"{live_server.url}/verba/gwtCallDetail.do?ccdrId={call.pk}")
    log_in(page, ("visitor", "pw-visitor-1"))

    expect(page.get_by_role("heading", level=1)).to_have_text("Access denied")
    expect(page.get_by_text("access level “own” or “all”")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text(call.caller_number)
    page.get_by_role("button", name="Log in as someone else").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_the_pages_work_from_the_keyboard(page: Page, live_server, staff_user):
    call = CallFactory(caller_number="8856")
    page.goto(f"{live_server.url}/accounts/login/")
    # The user name field has focus on arrival (autofocus, which the browser applies a
    # moment after the load: typing before it lost the first letter); Enter submits.
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("staff")
    page.keyboard.press("Tab")
    page.keyboard.type("pw-staff-1")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="callportal")).to_be_visible()

    page.goto(f"{live_server.url}/calls/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Phone number").focus()
    page.keyboard.type("8856")
    page.keyboard.press("Enter")
    link = page.locator("table.calls tbody tr a").first
    link.focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/calls/{call.pk}/")


def test_a_new_user_reaches_every_page_from_home_within_two_clicks(
    page: Page, live_server, django_user_model, media_root
):
    call_command("demo", stdout=StringIO())
    demo = django_user_model.objects.get(username="demo")
    demo.set_password("pw-demo-1")
    demo.save()

    def home() -> None:
        page.goto(f"{live_server.url}/")

    home()
    page.get_by_role("main").get_by_role("link", name="Log in").click()
    log_in(page, ("demo", "pw-demo-1"))
    expect(page).to_have_url(f"{live_server.url}/")
    screenshot(page, "home")

    # The quick search is on home itself.
    page.get_by_label("Phone number").fill("8856")
    page.get_by_label("Phone number").press("Enter")
    expect(page.locator("table.calls tbody tr").first).to_contain_text("8856")

    home()
    page.get_by_role("link", name="All calls").click()
    expect(page.locator("table.calls tbody tr")).to_have_count(50)
    page.locator("table.calls tbody tr a").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Call from")

    home()
    page.get_by_role("link", name="Calls in progress").click()
    expect(page.locator("table.calls tbody tr")).to_have_count(1)

    home()
    page.get_by_role("main").get_by_role("link").filter(has_text="→").first.click()
    expect(page.get_by_role("timer", name="Running duration")).to_be_visible()

    home()
    page.get_by_role("link", name="Administration").click()
    expect(page).to_have_url(f"{live_server.url}/admin/")

    home()
    page.get_by_role("link", name="Call ingestion API").click()
    expect(page).to_have_url(f"{live_server.url}/api/v1/docs")


def test_a_marker_added_through_the_api_sits_on_the_timeline_and_a_click_seeks_there(
    page: Page, live_server, staff_user, settings, tmp_path
):
    from apikeys.services import create_api_key

    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(
        started_at=start, ended_at=start + timedelta(seconds=30), recording_content_type="audio/wav"
    )
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=30)))
    _, key = create_api_key("CRM marks sales", can_change=True)
    query = urlencode(
        {
            "action": "AddMarker",
            "apiKey": key,
            "callID": str(call.pk),
            "mname": "Sale",
            "mstart": "15",
            "mend": "22.5",
            "responseType": "TEXT",
        }
    )
    assert page.request.get(f"{live_server.url}/verba/api?{query}").text() == "OK\n"

    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)
    timeline = page.get_by_role("group", name="Markers")
    marker = timeline.get_by_role("button", name="Sale, from 0:15.0 to 0:22.5")
    expect(marker).to_be_visible()
    # Placed at half the player's width, a quarter of it wide.
    track, spot = timeline.bounding_box(), marker.bounding_box()
    assert track and spot
    assert spot["x"] - track["x"] == pytest.approx(track["width"] / 2, abs=3)
    assert spot["width"] == pytest.approx(track["width"] / 4, abs=3)
    screenshot(page, "call-page-markers")

    # The page has fetched no audio (a view is not a play): the click loads it, then seeks.
    marker.click()

    page.wait_for_function("Math.abs(document.querySelector('audio').currentTime - 15) < 0.1")


SEEKED = """() => {
    const audio = document.querySelector('audio');
    window.seekedAt = new Promise(resolve => audio.addEventListener(
        'seeked', () => resolve(audio.currentTime), {once: true}));
}"""


def seek_by(page: Page, action) -> float:
    """Do `action`, then wait for the player's 'seeked' event; the position it reached."""
    page.evaluate(SEEKED)
    action()
    return page.evaluate("window.seekedAt")


def test_the_waveform_shows_the_recording_and_a_click_or_a_marker_on_it_seeks(
    page: Page, live_server, staff_user, settings, tmp_path
):
    from calls.models import Marker

    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(
        started_at=start, ended_at=start + timedelta(seconds=30), recording_content_type="audio/wav"
    )
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=30)))
    Marker.objects.create(call=call, name="Complaint", start_ms=20_000, end_ms=25_000)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)

    waveform = page.get_by_role("slider", name="Position in the recording")
    expect(waveform).to_be_visible()
    page.wait_for_function(
        "document.querySelector('.waveform img').complete"
        " && document.querySelector('.waveform img').naturalWidth > 0"
    )
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("document.querySelector('audio').currentTime > 0")

    box = waveform.bounding_box()
    assert box
    reached = seek_by(
        page, lambda: waveform.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    )
    assert reached == pytest.approx(15, abs=0.5)
    page.evaluate("document.querySelector('audio').pause()")

    marker = waveform.locator(".waveform-marker", has_text="Complaint")
    expect(marker).to_be_visible()
    spot = marker.bounding_box()
    assert spot
    assert spot["x"] - box["x"] == pytest.approx(box["width"] * 2 / 3, abs=3)
    assert seek_by(page, marker.click) == pytest.approx(20, abs=0.05)
    # The waveform is a keyboard control too: focused by the click, the arrows move 5 s.
    expect(waveform).to_be_focused()
    assert seek_by(page, lambda: page.keyboard.press("ArrowLeft")) == pytest.approx(15, abs=0.05)
    expect(waveform).to_have_attribute("aria-valuetext", "0:15 of 0:30")
    # The cursor is drawn where the player is: half-way along.
    played = page.locator(".waveform-played").bounding_box()
    assert played
    assert played["width"] == pytest.approx(box["width"] / 2, abs=3)

    for width in (1366, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"call-page-waveform-{width}")


def test_markers_on_the_timeline_and_the_waveform_share_the_recordings_scale(
    page: Page, live_server, staff_user, settings, tmp_path
):
    from calls.models import Marker

    # A recording half as long as its call: the markers sit where they fall in the
    # recording, on both bars, not shrunk to the call's length.
    settings.MEDIA_ROOT = tmp_path
    start = timezone.now() - timedelta(hours=1)
    call = CallFactory(
        started_at=start, ended_at=start + timedelta(seconds=60), recording_content_type="audio/wav"
    )
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=30)))
    Marker.objects.create(call=call, name="Sale", start_ms=15_000, end_ms=22_500)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)
    # The page fetches no audio by itself (a view is not a play): the user plays, and from
    # then on the player knows the recording's length.
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("document.querySelector('audio').readyState >= 1")
    page.evaluate("document.querySelector('audio').pause()")

    waveform = page.get_by_role("slider", name="Position in the recording")
    timeline = page.get_by_role("group", name="Markers")
    button = timeline.get_by_role("button", name="Sale, from 0:15.0 to 0:22.5")
    on_waveform = waveform.locator(".waveform-marker", has_text="Sale")
    track, spot = timeline.bounding_box(), button.bounding_box()
    picture, drawn = waveform.bounding_box(), on_waveform.bounding_box()
    assert track and spot and picture and drawn
    assert spot["x"] - track["x"] == pytest.approx(track["width"] / 2, abs=3)
    assert spot["width"] == pytest.approx(track["width"] / 4, abs=3)
    # The same place and width on the waveform above it.
    assert drawn["x"] - picture["x"] == pytest.approx(spot["x"] - track["x"], abs=3)
    assert drawn["width"] == pytest.approx(spot["width"], abs=3)
    screenshot(page, "call-page-markers-short-recording")

    assert seek_by(page, button.click) == pytest.approx(15, abs=0.05)


def test_staff_find_calls_by_a_name_or_part_of_a_number_and_see_which_have_a_recording(
    page: Page, live_server, staff_user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    now = timezone.now()
    recorded = CallFactory(
        caller_number="+442071234567",
        caller_name="Ada Lovelace",
        started_at=now - timedelta(minutes=5),
        recording_content_type="audio/wav",
    )
    recorded.recording.save("call.wav", ContentFile(wav_bytes(seconds=1)))
    CallFactory(
        caller_number="+15551234599",
        called_name="ada lovelace",
        started_at=now - timedelta(hours=1),
    )
    CallFactory(caller_number="+442079999999", caller_name="Alan Turing")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/calls/")
    log_in(page)

    page.get_by_label("Name").fill("LOVELACE")
    page.get_by_label("Part of a number").fill("1234")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.calls tbody tr")
    expect(rows).to_have_count(2)
    # The sign is a word in the Recording column, read out as such.
    expect(rows.nth(0).locator("td[data-label='Recording']")).to_have_text("▶ Recorded")
    expect(rows.nth(1).locator("td[data-label='Recording']")).to_contain_text("No recording")
    expect(rows.nth(1).get_by_text("Recorded", exact=True)).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    screenshot(page, "call-list-name-and-number-part-1366")

    page.get_by_label("Recording").select_option(label="With a recording")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("+442071234567")
    screenshot(page, "call-list-with-recording-1366")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(rows.nth(0)).to_contain_text("Recorded")


# Every piece of an element's text between the break points allowed (white space, after a
# hyphen, a <wbr>) that the line breaker cut in two: its characters sit on several lines.
SPLIT_PIECES = """(selector) => {
    const split = [];
    for (const element of document.querySelectorAll(selector)) {
        const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const piece of node.data.matchAll(/[^\\s-]+-?|-/g)) {
                const range = document.createRange();
                range.setStart(node, piece.index);
                range.setEnd(node, piece.index + piece[0].length);
                const tops = new Set([...range.getClientRects()]
                    .filter(box => box.width > 0).map(box => Math.round(box.top)));
                if (tops.size > 1) split.push(piece[0]);
            }
        }
    }
    return split;
}"""


@pytest.mark.parametrize("width", [390, 1366])
def test_a_call_s_id_wraps_only_after_its_hyphens(page: Page, live_server, staff_user, width):
    call = CallFactory(native_id="native-000042", platform_call_id=f"{'ab12' * 8}@pbx")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)

    guid = page.locator("code.guid")
    expect(guid).to_have_text(str(call.pk))
    box = guid.bounding_box()
    cell = page.locator(".facts dd", has=guid).bounding_box()
    assert box and cell
    assert box["x"] + box["width"] <= cell["x"] + cell["width"] + 1  # it fits its column
    lines = page.evaluate(
        """() => new Set([...document.querySelector('code.guid').getClientRects()]
            .map(box => Math.round(box.top))).size"""
    )
    assert page.evaluate(SPLIT_PIECES, "code.guid") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if width == 1366:
        assert lines > 1  # the column is narrower than the id: it does wrap, at a hyphen
    screenshot(page, f"call-page-ids-{width}")


def test_opening_a_call_records_a_view_and_only_playing_it_records_a_play(
    page: Page, live_server, staff_user, settings, tmp_path
):
    from access_log.models import AccessEvent

    settings.MEDIA_ROOT = tmp_path
    call = CallFactory(recording_content_type="audio/wav")
    call.recording.save("call.wav", ContentFile(wav_bytes(seconds=30)))
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/recording" in r.url else None)

    page.goto(f"{live_server.url}/calls/{call.pk}/")
    log_in(page)
    page.wait_for_load_state("networkidle")
    waveform = page.get_by_role("slider", name="Position in the recording")
    expect(waveform).to_be_visible()

    def kinds() -> list[str]:
        return list(
            AccessEvent.objects.filter(call_id=call.pk)
            .order_by("at", "pk")
            .values_list("kind", flat=True)
        )

    # The page, its waveform picture and its player are all there; not a byte of the audio.
    assert fetched == []
    assert kinds() == ["view"]

    # A click on the waveform is the user asking to listen from there: now the recording
    # is fetched, and that is the play.
    box = waveform.bounding_box()
    assert box
    reached = seek_by(page, lambda: waveform.click(position={"x": box["width"] / 2, "y": 10}))
    assert reached == pytest.approx(15, abs=0.5)
    assert fetched
    assert kinds() == ["view", "play"]
