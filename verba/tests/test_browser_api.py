"""The Business API's HTML and XML answers as Chromium sees them."""

from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from calls.tests.factories import CallFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_html_answers_link_opens_the_call_after_login(
    page: Page, live_server, staff_user, api_key
):
    _, key = api_key
    call = CallFactory(called_number="8856", caller_name="Grace Hopper")
    query = urlencode(
        {
            "action": "GetCallURL",
            "apiKey": key,
            "responseType": "HTML",
            "extension": "8856",
            "status": "last",
        }
    )
    page.goto(f"{live_server.url}/verba/api?{query}")
    expect(page).to_have_title("GetCallURL – Verba Business API")
    link = page.get_by_role(
        "link", name=f"{live_server.url}/verba/gwtCallDetail.do?ccdrId={call.pk}"
    )
    link.click()
    page.get_by_label("User name").fill("staff")
    page.get_by_label("Password").fill("pw-staff-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Grace Hopper").first).to_be_visible()
    assert str(call.pk) in page.url


def test_xml_with_control_characters_is_well_formed_for_the_browser(
    page: Page, live_server, api_key
):
    _, key = api_key
    query = urlencode({"action": "Bad\x01\x02Action<&>", "apiKey": key})
    page.goto(f"{live_server.url}/verba/api?action=GetCallURL&responseType=HTML")
    # The browser's own XML parser (as a web integration would use it) reports a
    # <parsererror> for a document that is not well-formed.
    parsed = page.evaluate(
        """async (url) => {
            const text = await (await fetch(url)).text();
            const doc = new DOMParser().parseFromString(text, "text/xml");
            return {
                errors: doc.getElementsByTagName("parsererror").length,
                root: doc.documentElement.nodeName,
                type: doc.getElementsByTagName("Response")[0].getAttribute("type"),
                message: doc.getElementsByTagName("ErrorMessage")[0].textContent,
            };
        }""",
        f"/verba/api?{query}",
    )
    assert parsed == {
        "errors": 0,
        "root": "VerbaApi",
        "type": "Bad\ufffd\ufffdAction<&>",
        "message": "The action is not known.",
    }


def test_an_html_error_page_shows_the_code_and_message(page: Page, live_server):
    page.goto(f"{live_server.url}/verba/api?action=GetCallURL&responseType=HTML")
    expect(page.locator(".code")).to_have_text("4")
    expect(page.locator(".message")).to_have_text("The API key is missing.")


def test_search_calls_html_fits_1366_px_and_each_call_id_opens_the_call_page(
    page: Page, live_server, staff_user, api_key
):
    from datetime import timedelta
    from pathlib import Path

    from django.conf import settings
    from django.utils import timezone

    _, key = api_key
    now = timezone.now()
    calls = [
        CallFactory(
            caller_number=f"+44207123456{n}",
            caller_name="Stark Industries International",
            called_number="8856",
            called_name="Margaret Hamilton",
            native_id=f"native-{n:06d}",
            platform_call_id=f"{'ab12cd34' * 4}@pbx",
            started_at=now - timedelta(hours=n + 1),
        )
        for n in range(3)
    ]
    query = urlencode(
        {
            "action": "SearchCalls",
            "apiKey": key,
            "responseType": "HTML",
            "start": (now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"),
            "end": now.strftime("%Y-%m-%d %H:%M"),
            "anynum": "8856",
            "returnMetadata": "1",
        }
    )
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/verba/api?{query}")

    expect(page.locator("tbody tr")).to_have_count(3)
    shots = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / "search-calls-html-1366.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    page.get_by_role("link", name=str(calls[1].pk)).click()
    page.get_by_label("User name").fill("staff")
    page.get_by_label("Password").fill("pw-staff-1")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{live_server.url}/calls/{calls[1].pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Call from {calls[1].caller_number} to 8856"
    )
