"""Network restrictions of an API key: IPv4/IPv6 addresses and CIDR ranges."""

import ipaddress
from collections.abc import Iterable

from django.core.exceptions import ValidationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(entry: str) -> Network:
    """One address or CIDR range, as a network; raises ValueError with a readable reason."""
    text = entry.strip()
    if not text:
        raise ValueError("empty entry")
    try:
        # strict=False accepts "10.1.2.3/24" as 10.1.2.0/24, which is what people mean.
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"“{text}” is not an IP address or CIDR range") from None


def normalize_networks(entries: Iterable[str]) -> list[str]:
    """Canonical, de-duplicated strings; raises ValidationError naming every bad entry."""
    result: list[str] = []
    errors: list[ValidationError] = []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            canonical = str(parse_network(entry))
        except ValueError as exc:
            errors.append(ValidationError(str(exc), code="invalid_network"))
            continue
        if canonical not in result:
            result.append(canonical)
    if errors:
        raise ValidationError(errors)
    return result


def split_networks(text: str) -> list[str]:
    """Entries from free text: separated by commas, spaces or new lines."""
    return [part for part in text.replace(",", " ").split() if part]


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address, or None; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4,
    which is how dual-stack servers report IPv4 clients."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def address_allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether `address` lies in any of `networks`; no networks means anywhere."""
    networks = list(networks)
    if not networks:
        return True
    ip = parse_address(address) if address else None
    if ip is None:
        return False
    return any(ip.version == net.version and ip in net for net in networks)
