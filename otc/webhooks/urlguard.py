"""Where webhooks may be sent: ``https`` only, and never to private, loopback, link-local or
otherwise non-public addresses (checked at registration and again just before every send, on
the addresses the host resolves to at that moment). ``OTC_WEBHOOKS_ALLOW_PRIVATE`` lifts the
rule (and admits plain ``http``) for tests and the demo.

At send time the request goes to the address that was checked, not to a fresh lookup, so a
DNS answer that changes between the check and the connection (rebinding) cannot redirect it;
TLS still verifies the certificate against the original host name.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings


class UrlNotAllowed(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Target:
    """Where to connect: ``url`` (host replaced by the checked address when pinned), the
    ``Host`` header and the TLS server name to present."""

    url: str
    host_header: str | None = None
    sni_hostname: str | None = None


def allow_private() -> bool:
    return bool(getattr(settings, "OTC_WEBHOOKS_ALLOW_PRIVATE", False))


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UrlNotAllowed(f"The host {host} does not resolve.") from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise UrlNotAllowed(f"The host {host} does not resolve.")
    return addresses


def check_syntax(url: str) -> None:
    """The checks that need no network: scheme, host, no credentials."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_private() else ("https",)
    if parts.scheme not in schemes:
        raise UrlNotAllowed("Webhook URLs must use https.")
    if not parts.hostname:
        raise UrlNotAllowed("The URL has no host.")
    if parts.username or parts.password:
        raise UrlNotAllowed("The URL must not carry credentials.")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise UrlNotAllowed("The URL's port is not valid.") from None


def resolve_target(url: str) -> Target:
    """Check ``url`` and return where to connect. Raises ``UrlNotAllowed``."""
    check_syntax(url)
    if allow_private():
        return Target(url=url)
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal else _resolve(host, port)
    for address in addresses:
        if not _is_public(ipaddress.ip_address(address.split("%")[0])):
            raise UrlNotAllowed(
                f"The host {host} resolves to {address}, a private, loopback, link-local or "
                "reserved address."
            )
    if literal:
        return Target(url=url)
    # Prefer IPv4 when the host has both: more receivers listen there.
    pinned = next((a for a in addresses if ":" not in a), addresses[0])
    netloc = f"[{pinned}]" if ":" in pinned else pinned
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return Target(
        url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=parts.netloc,
        sni_hostname=host,
    )
