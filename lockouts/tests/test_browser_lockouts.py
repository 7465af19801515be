"""The "Login lockouts" screen in Chromium at 1366 px: a row locked both ways, and lifting
exactly the lock the action names; times in the administrator's own zone, named."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect

from directory.models import Access, Profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots" / "lockouts"
PASSWORD = "pw-admin-Browser-1"


def test_an_administrator_lifts_the_user_name_lock_of_a_row_locked_both_ways(
    page: Page, live_server, settings, django_user_model
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5  # the fifth failure locks both ways
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    Profile.objects.create(user=boss, access=Access.ALL, time_zone="Europe/Berlin")
    django_user_model.objects.create_user("agent", password="pw-agent-1")
    for _ in range(5):
        Client().post(
            "/accounts/login/", {"username": "agent", "password": "wrong"}, REMOTE_ADDR="192.0.2.60"
        )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("User name").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.goto(f"{live_server.url}/admin/lockouts/failedlogins/")
    row = page.locator("#result_list tbody tr", has_text="192.0.2.60")
    expect(row).to_contain_text("User name and address")
    expect(page.get_by_text("Times are shown in Europe/Berlin.")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "locked-both-ways-1366.png", full_page=True)

    row.locator("input.action-select").check()
    page.select_option(
        "select[name=action]", label="Lift the user name's lock (from every address)"
    )
    page.click("button[name=index]")

    expect(page.get_by_text("Unlocked the user name “agent”.")).to_be_visible()
    row = page.locator("#result_list tbody tr", has_text="192.0.2.60")
    expect(row).to_contain_text("—")
    expect(row).not_to_contain_text("agent")
    expect(row.locator("td.field-locked")).to_have_text("Address")
    page.screenshot(path=SCREENSHOTS / "user-name-lifted-1366.png", full_page=True)
