"""Where a webhook may go: public addresses only, checked after DNS resolution, every time.

A bank chooses its webhook URL, so without a guard it could make the platform POST to
itself, its database or Redis, or a cloud metadata endpoint (SSRF). A target is refused when
any address its host resolves to is loopback, private, link-local, unspecified, multicast,
reserved or otherwise not globally routable (IPv4-mapped and other IPv6 forms that embed an
IPv4 address are judged by that address; decimal, octal and hex IPv4 spellings resolve like
any other name). The check runs when the URL is set and again on each delivery, and the
delivery then connects to the very address that was checked (``pin``), so a DNS answer that
changes in between (rebinding) cannot redirect it. Operators may allow named hosts, IPs or
CIDR ranges (``XINBAO_WEBHOOK_ALLOW``), e.g. a receiver on the bank's private network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

__all__ = ["AllowList", "BlockedTarget", "PinnedTarget", "Resolver", "blocked_reason", "check_url", "pin", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 / 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class BlockedTarget(ValueError):
    """The URL may not receive webhooks; ``str()`` starts with the field name, ``url``.

    ``template`` and ``fields`` say why in words a caller can translate (``str.format``);
    ``detail`` is the parser's or resolver's own message, kept for logs and English readers,
    never a part of the template."""

    def __init__(self, template: str, /, *, detail: str | None = None, **fields: object) -> None:
        self.template, self.fields, self.detail = template, fields, detail
        said = template.format(**fields)
        super().__init__(f"url: {said} ({detail})" if detail else f"url: {said}")


@dataclass(frozen=True, slots=True)
class AllowList:
    """Operator exceptions to the guard: host names (exact, case-insensitive) and IP networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        hosts: set[str] = set()
        networks = []
        for entry in entries:
            entry = entry.strip().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def names(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def covers(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks if net.version == ip.version)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` may not receive webhooks (None: it is a public address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return blocked_reason(inner)
    for attr, kind in (("is_unspecified", "unspecified"), ("is_loopback", "loopback"),
                       ("is_link_local", "link-local"), ("is_multicast", "multicast"),
                       ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return kind
    if not ip.is_global:  # shared address space (100.64/10), documentation ranges ...
        return "non-public"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to now (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True, slots=True)
class PinnedTarget:
    """A checked URL: ``url`` names the checked address instead of the host, ``host_header``
    and ``sni_hostname`` keep what the receiver expects (virtual host, TLS certificate)."""

    url: httpx.URL
    host_header: str
    sni_hostname: str | None


def _host_and_port(url: httpx.URL | str) -> tuple[httpx.URL, str, int]:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BlockedTarget("is not a valid URL", detail=str(exc)) from None
    if parsed.scheme not in ("http", "https"):
        raise BlockedTarget("must be an http:// or https:// URL")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS and TLS see
    if not host:
        raise BlockedTarget("has no host")
    return parsed, host, parsed.port or (443 if parsed.scheme == "https" else 80)


async def check_url(url: httpx.URL | str, allow: AllowList | Sequence[str] = (), *,
                    resolver: Resolver | None = None, must_resolve: bool = True) -> list[str]:
    """The addresses of ``url``'s host, all checked; raises ``BlockedTarget`` if any is refused.

    ``must_resolve=False`` accepts a name that does not resolve at all (yet): nothing can be
    sent to it, and each delivery checks again."""
    rules = allow if isinstance(allow, AllowList) else AllowList.parse(allow)
    _, host, port = _host_and_port(url)
    try:
        addresses = await (resolver or resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        if must_resolve:
            raise BlockedTarget("the host {host} does not resolve", host=host, detail=str(exc)) from None
        return []
    if not addresses and must_resolve:
        raise BlockedTarget("the host {host} does not resolve", host=host)
    if rules.names(host):
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
        if rules.covers(ip):
            continue
        reason = blocked_reason(ip)
        if reason:
            raise BlockedTarget(
                "{host} is a {kind} address ({ip}); webhooks may only go to public addresses"
                if str(ip) == host.strip("[]") else
                "{host} resolves to a {kind} address ({ip}); webhooks may only go to public addresses",
                host=host, kind=reason, ip=str(ip))
    return addresses


async def pin(url: str, allow: AllowList | Sequence[str] = (), *, resolver: Resolver | None = None
              ) -> PinnedTarget:
    """Resolve and check ``url`` now, and point it at the first checked address."""
    parsed, host, _ = _host_and_port(url)
    addresses = await check_url(parsed, allow, resolver=resolver)
    address = addresses[0].split("%", 1)[0]
    host_header = parsed.netloc.decode("ascii")  # host[:port], as httpx would have sent it
    sni = host if parsed.scheme == "https" else None
    return PinnedTarget(parsed.copy_with(host=address), host_header, sni)
