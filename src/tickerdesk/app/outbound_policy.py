"""Where tickerdesk may send a request on a user's behalf: public addresses only.

A webhook URL is chosen by a user, and the server POSTs to it from inside the
network. Without this policy a user could make it talk to the API itself, the
database, a cloud's metadata service (which hands out credentials) or anything
else only the server can reach, and read the answer's status in the delivery log.

The policy is a pure function of an address, so registration (which resolves the
URL's host once, to refuse early and clearly) and delivery (which checks every
address a name resolves to, and the one it connects to) apply the same rule.
Names on the configured allow list (TICKERDESK_WEBHOOK_ALLOWED_HOSTS, for tests
and local receivers; empty by default) are exempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address

# Metadata services hand out instance credentials. Most sit in ranges refused anyway
# (link-local, unique-local, shared), but naming them keeps the reason plain, and
# Azure's wire server and Oracle's legacy endpoint are not in such a range at all.
CLOUD_METADATA = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS resolver
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::253",
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
_PRIVATE = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
    IPv4Network("100.64.0.0/10"),  # carrier-grade NAT: inside some provider's network
)
_UNIQUE_LOCAL = IPv6Network("fc00::/7")
_SITE_LOCAL = IPv6Network("fec0::/10")
# Prefixes whose addresses carry an IPv4 address in their low 32 bits: NAT64 (the
# well-known and the local-use prefix) and IPv4-compatible addresses.
_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = IPv6Network("::/96")


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address leads to (mapped, 6to4, NAT64, compatible)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _parse(address: str | Address) -> Address | None:
    if isinstance(address, IPv4Address | IPv6Address):
        return address
    try:
        return ip_address(address)
    except ValueError:
        return None


def refusal(address: str | Address) -> str | None:
    """Why tickerdesk must not connect to `address` on a user's behalf, or None for a
    public address. Anything that is not an IP address is refused."""
    parsed = _parse(address)
    if parsed is None:
        return f"{address!r} is not an IP address"
    if isinstance(parsed, IPv6Address) and (embedded := _embedded_ipv4(parsed)) is not None:
        # Connecting to it reaches the IPv4 address, so that address decides.
        reason = _reason(embedded)
        return None if reason is None else f"{address} leads to {embedded}, {reason}"
    reason = _reason(parsed)
    return None if reason is None else f"{address} is {reason}"


def _reason(address: Address) -> str | None:
    if address in CLOUD_METADATA:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, IPv6Address):
        if address in _UNIQUE_LOCAL:
            return "a unique-local address"
        if address in _SITE_LOCAL:
            return "a site-local address"
    elif any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_private or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def _normal_host(host: str) -> str:
    host = host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")
    parsed = _parse(host)
    return str(parsed) if parsed is not None else host


def allowed_host(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` (a URL's host: a name, an IPv4 address or a bracketed IPv6 one)
    is on the allow list, compared case-insensitively and however an address is written."""
    wanted = _normal_host(host)
    return any(wanted == _normal_host(entry) for entry in allowed if entry.strip())
