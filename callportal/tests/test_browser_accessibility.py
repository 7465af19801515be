"""axe-core over every staff page and every admin list and form, at 1366 px in Chromium.

axe-core comes from the npm registry (package.json, locked in package-lock.json; `.ci/run`
installs it with `npm ci`). Its rules: WCAG 2.1 A and AA, and axe's best practices. Each page
is also kept as a screenshot under artifacts/screenshots/accessibility/ for review.
"""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from calls.models import Call

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(django_settings.BASE_DIR)
AXE = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = BASE_DIR / "artifacts" / "screenshots" / "accessibility"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

RUN_AXE = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
    return result.violations.map(v => ({
        id: v.id,
        help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
    }));
}"""


def printed(label: str, output: str) -> str:
    match = re.search(rf"^{label}:\s+(\S+)$", output, re.MULTILINE)
    assert match, f"{label} not printed:\n{output}"
    return match.group(1)


def violations(page: Page, name: str) -> list[str]:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    page.add_script_tag(path=str(AXE))
    return [
        f"{name} ({page.url}): {v['id']}: {v['help']} at {', '.join(v['nodes'])}"
        for v in page.evaluate(RUN_AXE, RULES)
    ]


def admin_pages() -> list[tuple[str, str]]:
    """Every registered model's list, its add form where adding is possible, and the change
    form (or read-only view) of its first row where it has one."""
    pages = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        name = f"admin-{opts.app_label}-{opts.model_name}"
        pages.append(
            (f"{name}-list", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        )
        if model_admin.has_add_permission(_superuser_request()):
            pages.append((f"{name}-add", reverse(f"admin:{opts.app_label}_{opts.model_name}_add")))
        first = model_admin.get_queryset(_superuser_request()).order_by("pk").first()
        if first is not None:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk])
            pages.append((f"{name}-change", url))
    return pages


def _superuser_request():
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="demo")
    return request


def test_axe_finds_no_violation_on_any_staff_page_or_admin_list_or_form(
    page: Page, live_server, settings, tmp_path
):
    assert AXE.exists(), "axe-core is missing: run `npm ci` (.ci/run does)"
    settings.MEDIA_ROOT = tmp_path
    settings.AUDIT_FLUSH_SECONDS = 0  # the example request below is in the trail at once
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = StringIO()
    call_command("demo", "--base-url", live_server.url, stdout=out)
    output = out.getvalue()
    page.set_viewport_size({"width": 1366, "height": 900})
    # One printed example request, so that the audit trail has a row to open.
    example = re.search(r"^\s+(http\S+/verba/api\?\S+)$", output, re.MULTILINE)
    assert example and page.request.get(example.group(1)).ok

    found = []
    page.goto(f"{live_server.url}/calls/")
    found += violations(page, "staff-login")
    page.get_by_label("User name").fill(printed("Staff user", output))
    page.get_by_label("Password").fill(printed("Password", output))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Calls", exact=True)).to_be_visible()

    recorded = printed("A recording", output)
    unrecorded = Call.objects.filter(recording="").order_by("-started_at").first()
    assert unrecorded is not None
    staff_pages = [
        ("staff-home", "/"),
        ("staff-call-list", "/calls/"),
        ("staff-call-list-filtered", "/calls/?state=in_progress"),
        ("staff-call-with-recording", recorded.removeprefix(live_server.url)),
        ("staff-call-without-recording", unrecorded.get_absolute_url()),
    ]
    for name, path in staff_pages + admin_pages():
        page.goto(f"{live_server.url}{path}")
        found += violations(page, name)

    assert found == [], "\n".join(found)
