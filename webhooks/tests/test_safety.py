"""Where webhooks may go (webhooks.md §4): https only, public addresses only — checked on
the address connected to, after DNS — unless the settings allow more; no redirects."""

import pytest
from django.core.exceptions import ValidationError

from webhooks import destinations, transport
from webhooks.services import create_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict(settings):
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.usefixtures("strict")
def test_an_http_url_is_refused_unless_allowed(settings):
    with pytest.raises(ValidationError, match="https://"):
        create_endpoint("http://hooks.example.com/callportal")

    settings.WEBHOOK_ALLOW_HTTP = True
    assert create_endpoint("http://hooks.example.com/callportal").endpoint.pk


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/",
        "https:///no-host",
        "https://user:password@hooks.example.com/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://172.16.5.4/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://224.0.0.251/",
        "https://0.0.0.0/",
        "https://100.64.0.1/",
    ],
)
def test_urls_that_name_a_private_address_or_no_https_host_are_refused_at_once(url):
    with pytest.raises(ValidationError):
        create_endpoint(url)


@pytest.mark.usefixtures("strict")
def test_localhost_which_resolves_to_127_0_0_1_is_refused_when_sending(receiver):
    # A name passes when the endpoint is made (it may resolve anywhere later); the check is
    # made on the addresses it resolves to at send time.
    url = f"https://localhost:{receiver.port}/hooks"
    create_endpoint(url)

    answer = transport.post(url, {}, b"{}")

    assert answer.status is None
    assert "127.0.0.1 is not public" in answer.error or "::1 is not public" in answer.error
    assert receiver.nothing_more()


@pytest.mark.usefixtures("strict")
def test_a_name_pointed_at_loopback_is_refused_and_nothing_is_connected(resolver, receiver):
    resolver.table["hooks.example.com"] = ["127.0.0.1"]

    answer = transport.post(f"https://hooks.example.com:{receiver.port}/", {}, b"{}")

    assert answer.error.startswith("The address 127.0.0.1 is not public")
    assert resolver.asked == ["hooks.example.com"]
    assert receiver.nothing_more()


@pytest.mark.usefixtures("strict")
@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.8"], ["169.254.169.254"], ["::ffff:10.0.0.8"], ["fd00::1"], ["ff02::1"]],
)
def test_a_name_that_resolves_only_to_private_addresses_is_refused(resolver, addresses):
    resolver.table["hooks.example.com"] = addresses

    answer = transport.post("https://hooks.example.com/", {}, b"{}")

    assert answer.status is None
    assert "is not public" in answer.error


@pytest.mark.usefixtures("strict")
def test_a_name_that_does_not_resolve_is_a_failure_with_its_reason(resolver):
    answer = transport.post("https://nowhere.example.com/", {}, b"{}")

    assert answer.error == "The name nowhere.example.com does not resolve."


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    settings, resolver, receiver
):
    """The address connected to is the one resolved and checked (never a second lookup),
    and the request names the host the URL names."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE = True
    resolver.table["hooks.example.com"] = ["127.0.0.1"]

    answer = transport.post(
        f"http://hooks.example.com:{receiver.port}/in?x=1", {"webhook-id": "msg_1"}, b"{}"
    )

    assert answer.status == 200
    got = receiver.next()
    assert got.headers["host"] == f"hooks.example.com:{receiver.port}"
    assert got.path == "/in?x=1"
    assert resolver.asked == ["hooks.example.com"]


def test_allowing_private_addresses_lets_loopback_through(settings, receiver):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE = True

    answer = transport.post(f"http://localhost:{receiver.port}/", {}, b"{}")

    assert answer.status == 200


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("169.254.0.1", False),
        ("239.1.1.1", False),
        ("192.0.2.1", False),  # documentation
        ("::", False),
    ],
)
def test_the_public_address_rule(address, public):
    import ipaddress

    assert destinations.is_public(ipaddress.ip_address(address)) is public
