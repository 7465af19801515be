"""The admin's "Login lockouts" screen, through full HTTP requests."""

import re

import pytest
from axes.models import AccessAttempt
from django.test import Client

from apikeys.services import create_api_key

pytestmark = pytest.mark.django_db

SCREEN = "/admin/lockouts/failedlogins/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(username, password, address):
    return Client().post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_admin_index_shows_login_lockouts_and_not_the_librarys_sections(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "Login lockouts" in page
    assert SCREEN in page
    for hidden in ("Axes", "Access failures", "Access logs", "Access attempts"):
        assert hidden not in page


def test_a_locked_user_name_shows_what_until_when_and_why(client, admin_client, staff_user):
    for _ in range(5):
        log_in("staff", "wrong", "192.0.2.10")

    page = text_of(admin_client.get(SCREEN))

    assert "User name Address Failed logins Last failure Where Locked Locked until Why" in page
    assert "staff 192.0.2.10 5" in page
    assert "/accounts/login/" in page
    assert "5 failed logins for this user name, from any address (the limit is 5)." in page
    assert "Attempt Remaining" not in page
    assert "USERNAME" not in page


def test_an_address_lock_reads_address(admin_client, settings):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 3
    for n in range(3):
        log_in(f"guess-{n}", "wrong", "192.0.2.30")

    page = text_of(admin_client.get(SCREEN))

    assert "guess-0 192.0.2.30 1" in page
    assert " Address " in page
    assert "3 failed logins from this address, for any user names (the limit is 3)." in page


def test_lifting_a_user_names_lock_unlocks_it_and_nothing_else(
    admin_client, staff_user, django_user_model
):
    other = django_user_model.objects.create_user(username="other", password="pw-other-1")
    for _ in range(5):
        log_in("staff", "wrong", "192.0.2.10")
        log_in("other", "wrong", "192.0.2.11")
    assert log_in("staff", "pw-staff-1", "192.0.2.10").status_code == 429

    staff_row = AccessAttempt.objects.get(username="staff").pk
    response = admin_client.post(
        SCREEN, {"action": "lift_user_name_locks", "_selected_action": [staff_row]}, follow=True
    )

    assert "Unlocked the user name “staff”." in text_of(response)
    assert logged_in(log_in("staff", "pw-staff-1", "192.0.2.10"))
    assert log_in(other.username, "pw-other-1", "192.0.2.11").status_code == 429


def lock_both_ways(settings):
    """staff's 5 failures from one address lock the user name and (its limit lowered to 5)
    the address, both at the fifth."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    for _ in range(5):
        log_in("staff", "wrong", "192.0.2.60")


def test_a_row_locked_both_ways_reads_user_name_and_address(admin_client, staff_user, settings):
    lock_both_ways(settings)

    page = text_of(admin_client.get(SCREEN))

    assert "staff 192.0.2.60 5" in page
    assert "User name and address" in page


def test_lifting_the_user_name_of_a_row_locked_both_ways_leaves_the_address_locked(
    admin_client, staff_user, django_user_model, settings
):
    django_user_model.objects.create_user(username="colleague", password="pw-colleague-1")
    lock_both_ways(settings)
    row = AccessAttempt.objects.get(username="staff").pk

    response = admin_client.post(
        SCREEN, {"action": "lift_user_name_locks", "_selected_action": [row]}, follow=True
    )

    page = text_of(response)
    assert "Unlocked the user name “staff”." in page
    # The user name logs in from elsewhere; the address still refuses everyone, staff too.
    assert logged_in(log_in("staff", "pw-staff-1", "192.0.2.61"))
    assert log_in("colleague", "pw-colleague-1", "192.0.2.60").status_code == 429
    assert log_in("staff", "pw-staff-1", "192.0.2.60").status_code == 429
    assert "— 192.0.2.60 5" in text_of(admin_client.get(SCREEN))


def test_lifting_the_address_of_a_row_locked_both_ways_leaves_the_user_name_locked(
    admin_client, staff_user, django_user_model, settings
):
    django_user_model.objects.create_user(username="colleague", password="pw-colleague-1")
    lock_both_ways(settings)
    row = AccessAttempt.objects.get(username="staff").pk

    response = admin_client.post(
        SCREEN, {"action": "lift_address_locks", "_selected_action": [row]}, follow=True
    )

    assert "Unlocked the address 192.0.2.60." in text_of(response)
    # The address lets others in again; the user name is still refused, from any address.
    assert logged_in(log_in("colleague", "pw-colleague-1", "192.0.2.60"))
    assert log_in("staff", "pw-staff-1", "192.0.2.60").status_code == 429
    assert log_in("staff", "pw-staff-1", "192.0.2.61").status_code == 429


def test_lifting_a_lock_the_row_does_not_have_lifts_nothing_and_says_so(admin_client, staff_user):
    for _ in range(5):
        log_in("staff", "wrong", "192.0.2.70")
    row = AccessAttempt.objects.get(username="staff").pk

    response = admin_client.post(
        SCREEN, {"action": "lift_address_locks", "_selected_action": [row]}, follow=True
    )

    assert "The address 192.0.2.70 is not locked: nothing was lifted." in text_of(response)
    assert log_in("staff", "pw-staff-1", "192.0.2.70").status_code == 429


def test_request_token_attempts_show_the_api_path(client, admin_client, staff_user):
    _, key = create_api_key("integration")
    client.get(
        "/verba/api",
        {"action": "RequestToken", "apiKey": key, "userName": "staff", "password": "wrong"},
        REMOTE_ADDR="192.0.2.40",
    )

    page = text_of(admin_client.get(SCREEN))

    assert "staff 192.0.2.40 1" in page
    assert "/verba/api" in page
    assert "&lt;unknown&gt;" not in page and "<unknown>" not in page
    assert "Not locked" in page


def test_the_lockout_page_says_how_long_in_minutes(staff_user):
    for _ in range(5):
        log_in("staff", "wrong", "192.0.2.50")

    page = text_of(log_in("staff", "pw-staff-1", "192.0.2.50"))

    assert "Logins are refused for 15 minutes; try again after that." in page
    assert "hours:minutes:seconds" not in page
    assert "0:15:00" not in page


def test_the_screen_works_out_each_rows_lock_once(
    admin_client, staff_user, django_assert_max_num_queries
):
    for n in range(20):
        log_in(f"guess-{n}", "wrong", f"192.0.2.{100 + n}")

    # Session, user, count, rows, and two sums per row (user name, address): not six.
    with django_assert_max_num_queries(8 + 2 * 20):
        assert admin_client.get(SCREEN).status_code == 200
