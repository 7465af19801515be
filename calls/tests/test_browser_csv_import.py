"""The admin's CSV import preview in Chromium at 1366 px: each error written out under its
row, and columns that wrap between words, never inside one."""

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from callportal.tests.test_browser_accessibility import AXE, RULES, RUN_AXE
from calls.cdr_csv import HEADINGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots" / "csv-import"
PASSWORD = "pw-admin-Browser-1"
COLUMNS = [
    "id",
    "caller_number",
    "caller_name",
    "called_number",
    "called_name",
    "started_at",
    "ended_at",
    "direction",
    "native_id",
    "platform_call_id",
    "keep",
]

# Every piece of text in the preview that the line breaker cut in two. A piece is a word (a
# run without white space) up to and including a hyphen: the break points allowed are white
# space, after a hyphen and the template's <wbr> (which ends a text node). A piece whose
# characters sit on more than one line box was split inside a word.
SPLIT_WORDS = """() => {
    const split = [];
    let wrapped = 0;
    const cells = document.querySelectorAll('table.import-preview th, table.import-preview td');
    for (const cell of cells) {
        const lines = new Set();
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const piece of node.data.matchAll(/[^\\s-]+-?|-/g)) {
                const range = document.createRange();
                range.setStart(node, piece.index);
                range.setEnd(node, piece.index + piece[0].length);
                const tops = new Set([...range.getClientRects()]
                    .filter(box => box.width > 0).map(box => Math.round(box.top)));
                tops.forEach(top => lines.add(top));
                if (tops.size > 1) split.push(piece[0]);
            }
        }
        if (lines.size > 1) wrapped += 1;
    }
    return {split, wrapped};
}"""

CELL_WRAPPING = """() => [
    ...document.querySelectorAll('table.import-preview th, table.import-preview td')]
    .map(cell => getComputedStyle(cell))
    .map(style => `${style.wordBreak} ${style.overflowWrap}`)"""


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    lines = [",".join(HEADINGS[name] for name in COLUMNS)]
    lines += [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def preview(page: Page, base: str, csv_file: Path) -> None:
    page.goto(f"{base}/admin/calls/call/import/")
    page.set_input_files("input[type=file]", csv_file)
    page.get_by_role("button", name="Preview import").click()


def axe_violations(page: Page) -> list[str]:
    """axe-core's findings on the page, with the accessibility test's rules."""
    page.add_script_tag(path=str(AXE))
    return [f"{v['id']}: {v['help']} at {v['nodes']}" for v in page.evaluate(RUN_AXE, RULES)]


def assert_wraps_between_words_only(page: Page) -> None:
    assert set(page.evaluate(CELL_WRAPPING)) == {"normal normal"}
    found = page.evaluate(SPLIT_WORDS)
    assert found["split"] == []
    assert found["wrapped"] > 0  # the check saw cells that do wrap
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.fixture
def admin_page(page: Page, live_server, django_user_model) -> Page:
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("User name").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return page


def test_each_import_error_is_written_under_its_row_and_no_word_is_split(
    admin_page: Page, live_server, tmp_path
):
    page = admin_page
    good = "0b5cad00-0000-4000-8000-00000000000{}"
    csv_file = write_csv(
        tmp_path / "calls.csv",
        [
            [
                good.format(1),
                "+442079460001",
                "Globex Corporation",
                "8856",
                "Ada Lovelace",
                "2026-11-26T14:03:00+00:00",
                "2026-11-26T14:09:30+00:00",
                "inbound",
                "native-x1",
                "0b5cad000000400080000000000000010000@pbx",
                "0",
            ],
            [
                "not-a-guid",
                "8857",
                "Alan Turing",
                "8858",
                "",
                "2026-11-26T15:00:00+00:00",
                "",
                "internal",
                "",
                "",
                "0",
            ],
            [
                good.format(3),
                "+442079460003",
                "Initech",
                "8859",
                "Grace Hopper",
                "2026-11-26T16:00:00+00:00",
                "2026-11-26T15:00:00+00:00",
                "outbound",
                "",
                "",
                "0",
            ],
            [
                good.format(4),
                "",
                "Umbrella",
                "8860",
                "",
                "2026-11-26T17:00:00+00:00",
                "",
                "sideways",
                "",
                "",
                "0",
            ],
        ],
    )

    preview(page, live_server.url, csv_file)

    expect(
        page.get_by_role("heading", name="Rows with errors: nothing was imported")
    ).to_be_visible()
    expected = {
        "3": ["Line 3, Call ID: The id must be a GUID"],
        "4": ["Line 4, End: The end cannot be before the start."],
        "5": ["Line 5, Caller number: This field must be 1 to 64 characters", "Line 5, Direction:"],
    }
    for line, messages in expected.items():
        group = page.locator(
            "tbody.invalid-row", has=page.locator(f"th[scope=row]:text-is('{line}')")
        )
        values_row, errors_row = group.locator("tr").nth(0), group.locator("tr.row-errors")
        for message in messages:
            error = errors_row.get_by_text(message)
            expect(error).to_be_visible()  # written out: no badge, nothing to hover
            assert error.evaluate("e => getComputedStyle(e.closest('td')).opacity") == "1"
        # Under its own row, not elsewhere on the page.
        values_box, errors_box = values_row.bounding_box(), errors_row.bounding_box()
        assert values_box and errors_box
        assert 0 <= errors_box["y"] - (values_box["y"] + values_box["height"]) < 2
    expect(page.locator(".validation-error-count")).to_have_count(0)
    expect(page.locator("tbody.invalid-row td.at-fault")).to_have_count(4)
    page.screenshot(path=SCREENSHOTS / "errors-1366.png", full_page=True)
    assert_wraps_between_words_only(page)
    assert axe_violations(page) == []


def test_the_preview_of_a_clean_file_wraps_between_words_only(
    admin_page: Page, live_server, tmp_path
):
    page = admin_page
    csv_file = write_csv(
        tmp_path / "calls.csv",
        [
            [
                f"0b5cad00-0000-4000-8000-00000000001{n}",
                f"+4420794600{n:02}",
                "Globex Corporation International",
                "8856",
                "Ada Lovelace (Accounts Receivable)",
                "2026-11-26T14:03:00.250000+00:00",
                "2026-11-26T14:09:30+00:00",
                ["inbound", "outbound", "internal"][n % 3],
                f"native-call-{n}",
                f"0b5cad000000400080000000000000{n:02}0000@pbx.example.com",
                str(n % 2),
            ]
            for n in range(6)
        ],
    )

    preview(page, live_server.url, csv_file)

    expect(page.get_by_role("heading", name="Preview")).to_be_visible()
    expect(page.locator("table.import-preview tbody tr, table.import-preview > tr")).to_have_count(
        6
    )
    page.screenshot(path=SCREENSHOTS / "preview-1366.png", full_page=True)
    assert_wraps_between_words_only(page)
    assert axe_violations(page) == []


def test_the_export_page_offers_its_columns_in_the_sites_words_without_axe_findings(
    admin_page: Page, live_server
):
    page = admin_page
    page.goto(f"{live_server.url}/admin/calls/call/export/")

    for heading in HEADINGS.values():
        expect(page.get_by_label(heading, exact=True)).to_be_checked()
    expect(page.get_by_role("button", name="Export")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "export-1366.png", full_page=True)
    assert axe_violations(page) == []
