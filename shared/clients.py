"""The client's address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from shared.networks import Network, address_allowed, parse_address, parse_network


@lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(parse_network(entry) for entry in entries if entry.strip())


def _trusted_proxies() -> tuple[Network, ...]:
    return _trusted(tuple(settings.TRUSTED_PROXIES))


def _address(text: str) -> str | None:
    """A canonical IP address from an address as proxies write it (maybe with a port)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    ip = parse_address(text)
    return str(ip) if ip is not None else None


def is_trusted_proxy(address: str | None) -> bool:
    proxies = _trusted_proxies()
    return bool(proxies) and address is not None and address_allowed(address, proxies)


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; or, when that is a trusted proxy, the right-most X-Forwarded-For entry
    that is not itself a trusted proxy.

    None when the address cannot be known (an unparseable entry where the client should
    be): a key with network restrictions then refuses the request.
    """
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if not is_trusted_proxy(peer):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    address = peer
    for hop in reversed(hops):
        address = _address(hop)
        if not is_trusted_proxy(address):
            return address
    # Every hop is a proxy we trust: the left-most is as close to the client as we can get.
    return address
