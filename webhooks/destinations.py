"""Where a webhook may be sent (webhooks.md §4), defined once for the admin, the command
and every delivery.

- The URL: `https://` (or `http://` where WEBHOOK_ALLOW_HTTP is on), with a host, and no
  user name or password (they would show wherever the URL is shown).
- The address: public only (no private, loopback, link-local, multicast, reserved or
  unspecified address, IPv4 inside IPv6 included) unless WEBHOOK_ALLOW_PRIVATE is on. It
  is checked on the addresses the name resolves to at send time, and the connection goes
  to the checked address itself (webhooks.transport), so a name re-pointed between the
  check and the connection reaches nothing new.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The destination is not allowed; the message says why (never a secret)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # the name (or address) as written: the Host header and the TLS server name
    port: int
    target: str  # path and query, as sent in the request line


def parse_url(url: str) -> Destination:
    """The destination `url` names, or Refused with the reason."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise Refused("The URL must start with https:// (http:// is not allowed here).")
    if scheme not in ("http", "https"):
        raise Refused("The URL must start with https://.")
    if not parts.hostname:
        raise Refused("The URL has no host name.")
    if parts.username is not None or parts.password is not None:
        raise Refused("The URL may not contain a user name or password.")
    literal = _address(parts.hostname)
    if literal is not None:
        check_address(literal)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(
        scheme=scheme,
        host=parts.hostname,
        port=port or (443 if scheme == "https" else 80),
        target=target,
    )


def url_problem(url: str) -> str | None:
    """Why `url` may not be an endpoint, or None (for forms and the command)."""
    try:
        parse_url(url)
    except Refused as refused:
        return str(refused)
    return None


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def check_address(address: IPAddress) -> None:
    if not settings.WEBHOOK_ALLOW_PRIVATE and not is_public(address):
        raise Refused(
            f"The address {address} is not public (private, loopback, link-local, "
            "multicast or reserved); WEBHOOK_ALLOW_PRIVATE is off."
        )


# The resolver, replaceable in tests. getaddrinfo cannot be given a timeout of its own, so
# it runs in a small pool and is waited for with one.
resolve_name: Callable[..., list] = socket.getaddrinfo
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def resolve(destination: Destination, timeout: float) -> IPAddress:
    """The first allowed address the destination's host resolves to; Refused when it
    resolves to none, or only to addresses that are not allowed."""
    literal = _address(destination.host)
    if literal is not None:
        check_address(literal)
        return literal
    future = _resolver_pool.submit(
        resolve_name, destination.host, destination.port, type=socket.SOCK_STREAM
    )
    try:
        found = future.result(timeout=timeout)
    except FutureTimeout:
        raise Refused(f"Resolving {destination.host} took longer than {timeout:g} s.") from None
    except OSError:
        raise Refused(f"The name {destination.host} does not resolve.") from None
    refusal: Refused | None = None
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        try:
            check_address(address)
        except Refused as refused:
            refusal = refused
            continue
        return address
    raise refusal or Refused(f"The name {destination.host} resolves to no address.")
