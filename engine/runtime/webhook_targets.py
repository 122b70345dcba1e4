"""Webhook addresses: what a well-formed one is, and where an API key may point one.

Two checks, used by the service layer when a webhook is created or its address changed, and by delivery
before each send of a webhook an API key set (so a name that later resolves inside the operator's network,
DNS rebinding, is caught at send time too):

* :func:`parse_webhook_url` — the address is an ``http``/``https`` URL with a host and nothing a sender
  would have to guess at: no spaces or control characters, no ``user:password@``, a port in 1–65535, a
  host that is an IP literal or a DNS name (labels of 1–63 letters, digits, ``-`` or ``_``, 253 characters
  in all; internationalised names in IDNA form). Anything else is 422 ``validation_error`` on
  ``address``.
* :func:`check_webhook_target` — every address the host resolves to (``getaddrinfo``) must be public
  (globally routable unicast), or inside a network of the operator's allow-list; a host name the operator
  lists is trusted as it stands. Refused: loopback (127/8, ::1, ``localhost``), link-local (169.254/16,
  fe80::/10), private (10/8, 172.16/12, 192.168/16, fc00::/7), unspecified (0.0.0.0, ::), CGNAT
  (100.64/10), multicast, documentation, benchmarking and reserved ranges, and IPv4 addresses wrapped in
  IPv6 (``::ffff:127.0.0.1``, 6to4). A name that does not resolve cannot be checked, so it is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from engine.errors import ValidationError
from engine.hostnames import dns_name
from engine.runtime.operator_config import WebhookAllowList

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]


class WebhookTargetRefused(ValidationError):
    """The address is well formed but points where the operator has not allowed API keys to send."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="address")


class WebhookHostUnresolved(WebhookTargetRefused):
    """The host did not resolve: it cannot be checked, so it is refused (at send time, retried later)."""


@dataclass(frozen=True)
class WebhookUrl:
    """A parsed webhook address: ``host`` is lower-case ASCII (IDNA) without brackets; ``ip`` is set when
    the host is an IP literal; ``port`` is the effective port (80/443 by default)."""

    url: str
    scheme: str
    host: str
    port: int
    ip: IPAddress | None


def _invalid(reason: str) -> ValidationError:
    return ValidationError(f"webhook address {reason}", field="address")


def _dns_name(host: str) -> str:
    try:
        return dns_name(host)
    except ValueError as exc:
        raise _invalid(f"has a host name that {exc}") from None


def parse_webhook_url(text: str) -> WebhookUrl:
    """Parse and validate ``text``; raises :class:`engine.errors.ValidationError` (field ``address``)."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise _invalid("must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _invalid(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _invalid("must be an http(s) URL")
    if "@" in parts.netloc:
        raise _invalid("must not contain a user name or password (pages are signed with the secret)")
    raw_host = parts.hostname
    if not raw_host:
        raise _invalid("must name a host")
    if port == 0:
        raise _invalid("must have a port between 1 and 65535")
    ip: IPAddress | None
    try:
        ip = ipaddress.ip_address(raw_host)
    except ValueError:
        ip = None
    if ip is None:
        if "[" in parts.netloc or ":" in raw_host:
            raise _invalid("has a malformed IPv6 address")
        host = _dns_name(raw_host)
    else:
        host = str(ip)
    import httpx  # the sender must read the address exactly as we did

    try:
        httpx.URL(text)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise _invalid(f"is not a valid URL ({exc})") from None
    return WebhookUrl(text, scheme, host, port or (443 if scheme == "https" else 80), ip)


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, looking through IPv4-mapped and 6to4 IPv6 addresses."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None and not is_public(inner):
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_link_local or address.is_loopback
    )


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order; ``OSError`` when it does not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in out:
            out.append(addr)
    return out


def check_webhook_target(
    url: WebhookUrl, allow: WebhookAllowList, *, resolve: Resolver = resolve_host
) -> list[IPAddress]:
    """The addresses an API-set webhook may be sent to; raises :class:`WebhookTargetRefused`.

    An empty list means the operator allowed the host by name (send to it as it resolves then). Otherwise
    every resolved address is public or in an allowed network, and the list is what to connect to.
    """
    if allow.allows_host(url.host):
        return []
    if url.ip is not None:
        addresses: Sequence[IPAddress] = [url.ip]
    else:
        try:
            addresses = resolve(url.host, url.port)
        except (OSError, UnicodeError) as exc:
            raise WebhookHostUnresolved(
                f"webhook host {url.host} cannot be resolved ({exc}); an address that cannot be checked "
                "is refused"
            ) from None
        if not addresses:
            raise WebhookHostUnresolved(f"webhook host {url.host} resolves to no address")
    inside = [a for a in addresses if not is_public(a) and not allow.allows_address(a)]
    if inside:
        shown = url.host if url.ip is not None else f"{url.host} ({', '.join(map(str, inside))})"
        raise WebhookTargetRefused(
            f"webhook address {shown} is a loopback, link-local, private or other non-public address; "
            "an API key may not point a webhook there unless the operator allows it "
            "([webhooks] allow in the oncall config file, or oncall serve --allow-webhook)"
        )
    return list(addresses)
