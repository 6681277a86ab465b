"""Azure clouds: where ARM lives, which token scope it wants, which storage suffix it uses."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Cloud:
    """One ARM endpoint and what goes with it."""

    name: str
    arm_endpoint: str
    authority_host: str | None
    storage_suffix: str

    @property
    def token_scope(self) -> str:
        """The scope to ask azure-identity for: ``<endpoint>/.default``."""
        return self.arm_endpoint.rstrip("/") + "/.default"

    @property
    def is_loopback(self) -> bool:
        """True for the sandbox: an endpoint on this machine that needs no token."""
        return is_loopback_url(self.arm_endpoint)


KNOWN_CLOUDS: Final[dict[str, Cloud]] = {
    "AzureCloud": Cloud(
        "AzureCloud", "https://management.azure.com", "login.microsoftonline.com", "core.windows.net"
    ),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "login.microsoftonline.us",
        "core.usgovcloudapi.net",
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "core.chinacloudapi.cn",
    ),
}

# Hosts that carry sign-in traffic; nothing addressed to them may be recorded.
SIGN_IN_HOSTS: Final = frozenset(
    {c.authority_host for c in KNOWN_CLOUDS.values() if c.authority_host} | {"169.254.169.254"}
)


def sandbox_cloud(endpoint: str) -> Cloud:
    """A cloud for an explicit loopback ARM endpoint (the sandbox imitates the public cloud)."""
    return Cloud("Sandbox", endpoint.rstrip("/"), None, "core.windows.net")


_LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.ip_address("::1")
_IP_TEXT = re.compile(r"[0-9a-f:.]+")


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (as an HTTP client connects to it; IPv6 with or without brackets) is this
    machine: exactly 127.0.0.0/8 in dotted-quad form, ``::1`` or the name ``localhost`` (any case).

    Nothing a resolver decides counts: not ``*.localhost``, ``localhost.``, short or hexadecimal
    IPv4 forms, IPv4-mapped IPv6, zone ids, nor names that merely start with a loopback address.
    """
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return True
    if not _IP_TEXT.fullmatch(host):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address in _LOOPBACK_V4 if address.version == 4 else address == _LOOPBACK_V6


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL of this machine (see :func:`is_loopback_host`) that every
    parser reads alike: no userinfo, backslash, whitespace or control character, a valid port."""
    if "\\" in url or any(not 0x21 <= ord(c) <= 0x7E for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # an unreadable port is no address of this machine
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return False
    return is_loopback_host(parts.hostname or "")


def listening(url: str) -> bool:
    """Whether something accepts connections at ``url``'s host and port (asked of loopback only)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False
