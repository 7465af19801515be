"""Login lockout (django-axes) on the site's login page and the admin's."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]
LIMIT = 5  # the default LOGIN_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff(django_user_model):
    """A staff user (so the admin's login accepts them too), password "pw-staff-1"."""
    return django_user_model.objects.create_user(
        username="staff", password="pw-staff-1", is_staff=True
    )


def log_in(client, page, username, password, address="192.0.2.10"):
    return client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_failures_below_the_limit_change_nothing(client, staff, page):
    for _ in range(LIMIT - 1):
        assert log_in(client, page, "staff", "wrong").status_code == 200

    assert logged_in(log_in(client, page, "staff", "pw-staff-1"))


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_repeated_wrong_passwords_lock_the_user_name_on_both_login_pages(client, staff, page):
    for _ in range(LIMIT):
        log_in(client, page, "staff", "wrong", address="192.0.2.10")

    # The right password, from another address, on either page: still refused.
    for other_page in LOGIN_PAGES:
        response = log_in(client, other_page, "staff", "pw-staff-1", address="198.51.100.7")
        assert response.status_code == 429
        page_text = response.content.decode()
        assert "<h1>Login locked</h1>" in page_text
        assert "Too many failed logins" in page_text
        assert "_auth_user_id" not in client.session


def test_five_wrong_passwords_for_one_user_do_not_lock_out_another_user_at_that_address(
    client, staff, django_user_model
):
    django_user_model.objects.create_user(username="other", password="pw-other-1", is_staff=True)
    for _ in range(LIMIT):
        log_in(client, "/accounts/login/", "staff", "wrong", address="192.0.2.10")

    assert logged_in(log_in(Client(), "/accounts/login/", "other", "pw-other-1", "192.0.2.10"))
    assert (
        log_in(client, "/accounts/login/", "staff", "pw-staff-1", "192.0.2.10").status_code == 429
    )


def test_an_address_is_locked_for_every_user_name_only_at_the_much_higher_address_limit(
    client, staff, settings
):
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 10 * LIMIT
    for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        log_in(client, "/accounts/login/", f"guess-{n}", "wrong", address="192.0.2.10")
    assert logged_in(log_in(Client(), "/accounts/login/", "staff", "pw-staff-1", "192.0.2.10"))

    log_in(client, "/accounts/login/", "guess-last", "wrong", address="192.0.2.10")
    assert (
        log_in(client, "/accounts/login/", "staff", "pw-staff-1", "192.0.2.10").status_code == 429
    )
    assert logged_in(log_in(client, "/accounts/login/", "staff", "pw-staff-1", "192.0.2.11"))


def test_the_lockout_ends_after_the_configured_time(client, staff, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(LIMIT):
            log_in(client, "/accounts/login/", "staff", "wrong")
        assert log_in(client, "/accounts/login/", "staff", "pw-staff-1").status_code == 429
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert logged_in(log_in(client, "/accounts/login/", "staff", "pw-staff-1"))


def test_the_lockout_is_listed_in_the_admin_and_lifting_it_unlocks(client, staff, admin_client):
    for _ in range(LIMIT):
        log_in(client, "/admin/login/", "staff", "wrong", address="192.0.2.10")
    assert log_in(client, "/admin/login/", "staff", "pw-staff-1").status_code == 429

    listing = admin_client.get("/admin/lockouts/failedlogins/")
    assert listing.status_code == 200
    assert "staff" in listing.content.decode()
    assert "192.0.2.10" in listing.content.decode()

    attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/lockouts/failedlogins/",
        {"action": "lift_user_name_locks", "_selected_action": attempts},
    )
    assert response.status_code == 302

    assert logged_in(log_in(client, "/admin/login/", "staff", "pw-staff-1"))


def test_what_the_lockout_records_holds_no_password(client, staff):
    log_in(client, "/accounts/login/", "staff", "pw-canary-7f3a9c")

    stored = str(list(AccessAttempt.objects.values()))
    assert "staff" in stored
    assert "pw-canary-7f3a9c" not in stored


def test_logging_out_of_the_admin_leads_to_the_admins_login_page(admin_client):
    response = admin_client.post("/admin/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in admin_client.session


def test_the_admins_login_page_and_user_list_say_user_name(client, admin_client):
    login = client.get("/admin/login/").content.decode()
    users = admin_client.get("/admin/auth/user/").content.decode()

    assert ">User name:</label>" in login
    assert "Username" not in login
    assert ">User name</a>" in users
    assert ">Username</a>" not in users


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("/accounts/login/", "The user name or the password is wrong. Both are case-sensitive."),
        (
            "/admin/login/",
            "The user name or the password is wrong, or this account may not use the admin. "
            "Both are case-sensitive.",
        ),
    ],
)
def test_a_wrong_login_is_explained_in_the_sites_words(client, staff, page, message):
    response = log_in(client, page, "staff", "wrong")

    text = response.content.decode()
    assert message in text
    assert "correct username" not in text
