"""The API key and API session pages of the admin, through real HTTP requests."""

import html as html_lib
import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from apikeys import secrets
from apikeys.models import ApiKey, ApiSession
from apikeys.services import create_api_key, request_token
from audit.services import record_api_request

pytestmark = pytest.mark.django_db

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
ADD_URL = reverse("admin:apikeys_apikey_add")
LIST_URL = reverse("admin:apikeys_apikey_changelist")


def audit_row(*, at, key: ApiKey, result_code: int) -> None:
    """One audit row as the API leaves it: through the audit writer, which also keeps the
    hourly usage the admin reads."""
    record_api_request(
        at=at,
        action="GetCallURL",
        api_key_id=key.pk,
        user_id=None,
        client_address=None,
        result_code=result_code,
        call_id=None,
        duration_ms=1,
    )


def add_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "CRM integration",
        "existing_key": "",
        "can_query": "on",
        "expires_at_0": "",
        "expires_at_1": "",
        "networks": "",
    }
    data.update(overrides)
    return data


def shown_key(html: str) -> str:
    match = re.search(r"data-api-key>([^<]+)<", html)
    assert match, "no key on the page"
    return match.group(1)


def all_admin_pages(client, key: ApiKey) -> str:
    urls = [
        LIST_URL,
        reverse("admin:apikeys_apikey_change", args=[key.pk]),
        reverse("admin:apikeys_apikey_history", args=[key.pk]),
        reverse("admin:apikeys_apisession_changelist"),
        reverse("admin:audit_apirequest_changelist"),
        reverse("admin:index"),
    ]
    pages = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return "\n".join(pages)


def test_adding_a_key_shows_it_once_with_a_warning(admin_client):
    response = admin_client.post(ADD_URL, add_form())

    assert response.status_code == 200
    html = response.content.decode()
    plaintext = shown_key(html)
    assert GUID.fullmatch(plaintext)
    assert "will not be shown again" in html
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(name="CRM integration")
    assert key.key_digest == secrets.digest(plaintext)
    assert key.hint == f"…{plaintext[-4:]}"
    # Never again: not on the list, the key's page, its history, or the next page.
    assert plaintext not in all_admin_pages(admin_client, key)
    assert key.key_digest not in all_admin_pages(admin_client, key)


def test_the_shown_key_is_not_kept_in_a_message_cookie_or_log(admin_client):
    response = admin_client.post(ADD_URL, add_form())
    plaintext = shown_key(response.content.decode())

    for cookie in response.cookies.values():
        assert plaintext not in cookie.value
    for entry in LogEntry.objects.all():
        assert plaintext not in f"{entry.object_repr} {entry.change_message}"


def test_an_existing_guid_is_imported_in_any_letter_case(admin_client):
    guid = "0F8FAD5B-D9CB-469F-A165-70867728950E"

    response = admin_client.post(ADD_URL, add_form(existing_key=guid))

    assert shown_key(response.content.decode()) == guid.lower()
    assert ApiKey.objects.get().key_digest == secrets.digest(guid.lower())


def test_a_malformed_import_is_refused_without_echoing_it(admin_client):
    response = admin_client.post(ADD_URL, add_form(existing_key="not-a-guid-secret-value"))

    html = response.content.decode()
    assert "An API key must be a GUID" in html
    assert "not-a-guid-secret-value" not in html
    assert not ApiKey.objects.exists()


def test_a_duplicate_import_is_refused_without_echoing_it(admin_client):
    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    create_api_key("First", key=guid)

    response = admin_client.post(ADD_URL, add_form(existing_key=guid))

    html = response.content.decode()
    assert "This API key already exists." in html
    assert guid not in html
    assert ApiKey.objects.count() == 1


def test_each_bad_network_entry_gets_its_own_error(admin_client):
    response = admin_client.post(
        ADD_URL, add_form(networks="10.0.0.0/8\nintranet\n300.1.2.3, 2001:db8::/32")
    )

    html = response.content.decode()
    assert "“intranet” is not an IP address or CIDR range" in html
    assert "“300.1.2.3” is not an IP address or CIDR range" in html
    assert not ApiKey.objects.exists()


def test_network_restrictions_are_stored_canonical(admin_client):
    admin_client.post(ADD_URL, add_form(networks="10.1.2.3/24\n2001:DB8::1"))

    assert ApiKey.objects.get().networks == ["10.1.2.0/24", "2001:db8::1/128"]


def test_the_list_shows_what_each_key_is_doing(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    busy, _ = create_api_key("Busy CRM", networks=["10.0.0.0/8"], can_ingest=True)
    create_api_key("Expired PBX", expires_at=now - timedelta(days=1), can_query=False)
    revoked, _ = create_api_key("Old helpdesk", requires_auth=True)
    revoked.revoked_at = now
    revoked.save()
    for hours in (1, 2, 30):  # two within the last 24 hours, one before
        audit_row(at=now - timedelta(hours=hours), key=busy, result_code=0)

    with django_assert_max_num_queries(12):
        html = admin_client.get(LIST_URL).content.decode()

    assert "Busy CRM" in html and busy.hint in html
    assert "query, ingest" in html
    assert "10.0.0.0/8" in html
    assert '<td class="field-requests_24h">2</td>' in html
    assert "Expired" in html and "Revoked" in html and "Active" in html


def test_the_list_needs_no_extra_query_per_key(admin_client, django_assert_max_num_queries):
    for i in range(30):
        key, _ = create_api_key(f"Key number {i}")
        audit_row(at=timezone.now(), key=key, result_code=0)

    with django_assert_max_num_queries(12):
        assert admin_client.get(LIST_URL).status_code == 200


def test_keys_are_filtered_by_state_and_permission_and_found_by_hint(admin_client):
    active, _ = create_api_key("Active one", can_ingest=True)
    revoked, _ = create_api_key("Revoked one")
    revoked.revoked_at = timezone.now()
    revoked.save()
    create_api_key("Expired one", expires_at=timezone.now() - timedelta(hours=1))

    def names(query: str) -> set[str]:
        html = admin_client.get(f"{LIST_URL}?{query}").content.decode()
        return {n for n in ("Active one", "Revoked one", "Expired one") if n in html}

    assert names("state=active") == {"Active one"}
    assert names("state=revoked") == {"Revoked one"}
    assert names("state=expired") == {"Expired one"}
    assert names("permission=ingest") == {"Active one"}
    assert names(f"q={active.hint.lstrip('…')}") == {"Active one"}
    assert names("q=Revoked") == {"Revoked one"}


def test_revoking_asks_first_then_is_final(admin_client):
    key, _ = create_api_key("To revoke")
    form = {"action": "revoke_keys", "_selected_action": [key.pk]}

    confirm = admin_client.post(LIST_URL, form)
    assert "irreversible" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None

    admin_client.post(LIST_URL, {**form, "post": "yes"})
    key.refresh_from_db()
    assert key.state == "revoked"
    # Nothing in the admin brings it back: the field is not editable.
    change = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk]))
    assert 'name="revoked_at"' not in change.content.decode()


def test_rotating_shows_the_new_key_once_and_the_old_one_stops(admin_client):
    key, old = create_api_key("To rotate")
    form = {"action": "rotate_keys", "_selected_action": [key.pk], "post": "yes"}

    response = admin_client.post(LIST_URL, form)

    new = shown_key(response.content.decode())
    assert new != old
    assert "no-store" in response["Cache-Control"]
    key.refresh_from_db()
    assert key.key_digest == secrets.digest(new)
    assert not ApiKey.objects.filter(key_digest=secrets.digest(old)).exists()
    assert new not in all_admin_pages(admin_client, key)


def test_keys_cannot_be_deleted_only_revoked(admin_client):
    key, _ = create_api_key("Keep me")

    response = admin_client.post(
        reverse("admin:apikeys_apikey_delete", args=[key.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_the_key_page_charts_requests_per_day_by_result_code(admin_client):
    key, _ = create_api_key("Charted")
    now = timezone.now()
    for days, code in ((0, 0), (0, 0), (0, 4), (3, 2), (40, 0)):
        audit_row(at=now - timedelta(days=days), key=key, result_code=code)

    html = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()

    start = html.index('<svg xmlns="http://www.w3.org/2000/svg" role="img" class="usage-chart"')
    svg = html[start : html.index("</svg>", start)]
    assert "4 in total" in svg  # the request 40 days ago is outside the 30 days
    assert "2 × code 0 – success" in svg
    assert "1 × code 4 – invalid API key" in svg
    assert "1 × code 2 – call not found" in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # no external assets


def test_the_key_page_never_offers_the_digest(admin_client):
    key, _ = create_api_key("Digest hidden")

    html = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()

    assert key.key_digest not in html
    assert "key_digest" not in html


@pytest.fixture
def session_with_token(admin_user):
    key, _ = create_api_key("Session key")
    session, token = request_token(key, admin_user, client_address="192.0.2.7")
    return session, token


def test_the_session_list_shows_sessions_without_any_token(admin_client, session_with_token):
    session, token = session_with_token

    html = admin_client.get(reverse("admin:apikeys_apisession_changelist")).content.decode()
    page = admin_client.get(
        reverse("admin:apikeys_apisession_change", args=[session.pk])
    ).content.decode()

    assert "Session key" in html and "192.0.2.7" in html and "active" in html
    for text in (html, page):
        assert token not in text
        assert session.token_digest not in text


def test_releasing_sessions_ends_their_tokens_at_once(admin_client, session_with_token):
    session, _ = session_with_token

    admin_client.post(
        reverse("admin:apikeys_apisession_changelist"),
        {"action": "release_sessions", "_selected_action": [session.pk]},
    )

    session.refresh_from_db()
    assert session.released_at is not None
    assert not session.is_active
    assert ApiSession.objects.count() == 1


def test_a_revoked_key_is_read_only_with_a_banner_saying_why(admin_client):
    key, _ = create_api_key("Retired CRM")
    key.revoked_at = timezone.now()
    key.save()
    url = reverse("admin:apikeys_apikey_change", args=[key.pk])

    page = admin_client.get(url).content.decode()

    assert "This API key was revoked on" in page
    assert "it can never be used again, so it can no longer be changed" in page
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert 'name="can_query"' not in page and 'name="name"' not in page

    refused = admin_client.post(url, {"name": "Renamed", "can_query": "on"})
    assert refused.status_code == 403
    key.refresh_from_db()
    assert key.name == "Retired CRM"


def test_an_active_key_stays_editable_without_the_banner(admin_client):
    key, _ = create_api_key("Live CRM")

    page = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()

    assert 'name="_save"' in page
    assert "was revoked" not in page


def test_the_session_list_names_sessions_and_states_in_the_sites_words(
    admin_client, session_with_token
):
    session, _ = session_with_token

    html = admin_client.get(reverse("admin:apikeys_apisession_changelist")).content.decode()

    assert f"Session {session.pk}</a>" in html
    assert ">Active</td>" in html
    assert "column-pk" not in html


def breadcrumbs_of(html: str) -> str:
    crumbs = html.split('<div class="breadcrumbs">', 1)[1].split("</div>", 1)[0]
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", crumbs))).strip()


def test_the_breadcrumbs_do_not_repeat_api_keys(admin_client):
    key, _ = create_api_key("Crumb CRM")

    listing = admin_client.get(LIST_URL).content.decode()
    page = admin_client.get(reverse("admin:apikeys_apikey_change", args=[key.pk])).content.decode()
    sessions = admin_client.get(reverse("admin:apikeys_apisession_changelist")).content.decode()

    assert breadcrumbs_of(listing) == "Home › API keys"
    assert breadcrumbs_of(page).startswith("Home › API keys › Crumb CRM")
    assert breadcrumbs_of(sessions) == "Home › API keys › API sessions"
