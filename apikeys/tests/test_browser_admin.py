"""An administrator's walk through the admin in Chromium, against the live server."""

import re

import pytest
from playwright.sync_api import Page, expect

from calls.tests.factories import CallFactory

ADMIN_PASSWORD = "pw-admin-Browser-1"


@pytest.mark.browser
def test_an_administrator_adds_uses_revokes_and_audits_a_key(
    page: Page, live_server, django_user_model
):
    django_user_model.objects.create_superuser("boss", "boss@example.com", ADMIN_PASSWORD)
    call = CallFactory(called_number="8856")
    base = live_server.url

    # Log in.
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    # Add a key and copy it from the page that shows it once.
    page.goto(f"{base}/admin/apikeys/apikey/add/")
    page.fill("#id_name", "Browser CRM")
    page.click("input[name=_save]")
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    shown = page.locator("[data-api-key]").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", shown)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    plaintext = page.evaluate("navigator.clipboard.readText()")
    assert plaintext == shown

    # Use it: success.
    url = (
        f"{base}/verba/api?action=GetCallURL&responseType=TEXT&apiKey={plaintext}&callID={call.pk}"
    )
    answer = page.request.get(url)
    assert answer.status == 200
    assert answer.text().strip().endswith(f"/verba/gwtCallDetail.do?ccdrId={call.pk}")

    # Revoke it in the admin (with the confirmation step).
    page.goto(f"{base}/admin/apikeys/apikey/")
    row = page.locator("#result_list tbody tr", has_text="Browser CRM")
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "revoke_keys")
    page.click("button[name=index]")
    expect(page.get_by_text("Revoking is irreversible")).to_be_visible()
    page.click("input[value='Yes, revoke']")
    expect(page.get_by_text("1 API key(s) revoked.")).to_be_visible()
    expect(page.locator("#result_list tbody tr", has_text="Browser CRM")).to_contain_text("Revoked")

    # The same key is now refused with code 4.
    refused = page.request.get(url)
    assert refused.text().startswith("ERROR 4:")

    # Both requests are in the audit trail, with the key and their codes.
    page.goto(f"{base}/admin/audit/apirequest/")
    rows = page.locator("#result_list tbody tr", has_text="GetCallURL")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("4 – invalid API key")
    expect(rows.nth(1)).to_contain_text("0 – success")
    expect(rows.nth(1)).to_contain_text("Browser CRM")
    # And the key itself appears nowhere in the trail.
    assert plaintext not in page.content()
