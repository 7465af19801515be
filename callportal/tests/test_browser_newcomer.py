"""A newcomer's first ten minutes, in Debian's Chromium against the live server.

The README's path (`make demo`'s output → log in → a call with a recording, played and
sought with a click on its waveform), then every admin list and staff page at 1366 and
1920 px: screenshots for review under artifacts/screenshots/newcomer/, and no horizontal
scroll at 1366 px.
"""

import re
from io import StringIO
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots" / "newcomer"
NARROW, WIDE = 1366, 1920

ADMIN_LISTS = [
    "/admin/",
    "/admin/apikeys/apikey/",
    "/admin/apikeys/apisession/",
    "/admin/calls/call/",
    "/admin/audit/apirequest/",
    "/admin/auth/user/",
    "/admin/auth/group/",
]


def printed(label: str, output: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)$", output, re.MULTILINE)
    assert match, f"{label} not printed:\n{output}"
    return match.group(1)


def no_horizontal_scroll(page: Page) -> bool:
    """Neither the page nor an admin list's own scroll box (which would hide the last
    columns) is wider than the window."""
    return page.evaluate(
        """() => [document.documentElement, ...document.querySelectorAll('.results')]
            .every(box => box.scrollWidth <= box.clientWidth)"""
    )


HEADER_COLOURS = """() => {
    const header = document.querySelector('.site-header, #header');
    const name = document.querySelector('.site-nav .brand, #site-name a');
    return [getComputedStyle(header).backgroundColor, getComputedStyle(name).color];
}"""


def shoot(page: Page, name: str) -> list[str]:
    """Screenshots at both widths; returns the problems found at 1366 px."""
    problems = []
    for width in (NARROW, WIDE):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        if width == NARROW and not no_horizontal_scroll(page):
            problems.append(f"{name} scrolls sideways at {width} px")
    page.set_viewport_size({"width": NARROW, "height": 900})
    return problems


def test_a_newcomer_goes_from_make_demo_to_a_playing_call_and_every_page_fits(
    page: Page, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.AUDIT_FLUSH_SECONDS = 0  # audit rows written at once, for the trail's page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = StringIO()
    call_command("demo", "--base-url", live_server.url, stdout=out)
    output = out.getvalue()
    user, password = printed("Staff user", output), printed("Password", output)
    key = printed("API key", output)

    # The example requests answer (and fill the audit trail); a token makes an API session.
    for url in re.findall(r"^\s+(http\S+/verba/api\?\S+)$", output, re.MULTILINE):
        answer = page.request.get(url)
        if "action=GetCallURL" in url:
            assert answer.ok and "/verba/gwtCallDetail.do?ccdrId=" in answer.text()
        else:  # the examples that change a call (a marker, a custom field), in XML
            assert answer.ok and '<Response code="0"' in answer.text(), url
    token_query = urlencode(
        {"action": "RequestToken", "apiKey": key, "userName": user, "password": password}
    )
    assert page.request.post(f"{live_server.url}/verba/api?{token_query}").ok

    # Log in from the printed staff link, then open the printed call with a recording.
    page.set_viewport_size({"width": NARROW, "height": 900})
    page.goto(printed("Calls", output))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Calls", exact=True)).to_be_visible()
    problems = shoot(page, "staff-call-list")

    # The call's recording: its waveform drawn, played, and a click half-way along the
    # waveform plays from the middle.
    page.goto(printed("A recording", output))
    audio = page.locator("audio")
    expect(audio).to_be_visible()
    waveform = page.get_by_role("slider", name="Position in the recording")
    page.wait_for_function("document.querySelector('.waveform img').naturalWidth > 0")
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("document.querySelector('audio').currentTime > 0")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert 2 <= duration <= 10
    page.evaluate(
        """() => {
            const audio = document.querySelector('audio');
            audio.pause();
            window.seekedAt = new Promise(resolve => audio.addEventListener(
                'seeked', () => resolve(audio.currentTime), {once: true}));
        }"""
    )
    box = waveform.bounding_box()
    assert box is not None
    waveform.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    assert page.evaluate("window.seekedAt") == pytest.approx(duration / 2, abs=0.25)
    problems += shoot(page, "staff-call-page")

    page.goto(f"{live_server.url}/")
    problems += shoot(page, "staff-home")
    staff_header = page.evaluate(HEADER_COLOURS)
    page.goto(f"{live_server.url}/calls/?state=in_progress")
    problems += shoot(page, "staff-call-list-in-progress")

    for path in ADMIN_LISTS:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("#site-name")).to_have_text("callportal administration")
        # The staff pages' header: its dark bar and the name in white, not Django's colours.
        assert page.evaluate(HEADER_COLOURS) == staff_header, path
        name = "admin" + path.removeprefix("/admin").rstrip("/").replace("/", "-")
        problems += shoot(page, name)
    # A browser set to dark: the same header; links a light blue that reads on dark grey.
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/admin/")
    assert page.evaluate(HEADER_COLOURS) == staff_header
    assert (
        page.evaluate(
            "getComputedStyle(document.querySelector('#content-main th[scope=row] a')).color"
        )
        == "rgb(140, 194, 255)"
    )
    problems += shoot(page, "admin-dark")
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_server.url}/admin/apikeys/apikey/")
    page.get_by_role("link", name="Demo integration").click()
    problems += shoot(page, "admin-apikey-change")
    page.goto(f"{live_server.url}/admin/calls/call/")
    page.locator("#result_list tbody tr th a").first.click()
    problems += shoot(page, "admin-call-change")

    # The CSV import's preview, with an accepted and a rejected row.
    csv_file = tmp_path / "calls.csv"
    csv_file.write_text(
        "id,caller_number,caller_name,called_number,called_name,started_at,ended_at,"
        "direction,native_id,platform_call_id,keep\n"
        "0b5cad00-0000-4000-8000-000000000001,+442079460001,Globex,8856,Ada Lovelace,"
        "2026-11-26T14:03:00+00:00,2026-11-26T14:09:30+00:00,inbound,native-x1,"
        "0b5cad000000400080000000000000010000@pbx,0\n"
        "not-a-guid,8857,Alan Turing,8858,,2026-11-26T15:00:00+00:00,,internal,,,0\n"
    )
    page.goto(f"{live_server.url}/admin/calls/call/import/")
    page.set_input_files("input[type=file]", csv_file)
    page.locator("input[type=submit]").first.click()
    expect(page.get_by_text("The id must be a GUID in the form")).to_be_visible()
    problems += shoot(page, "admin-call-import-preview")

    # Log out: the next page says so.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    problems += shoot(page, "staff-logged-out")

    assert problems == []
