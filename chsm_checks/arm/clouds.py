"""Azure clouds: where ARM lives, which token scope it wants, which storage suffix it uses."""

from __future__ import annotations

import ipaddress
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


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine (127.0.0.0/8, ::1 or ``localhost``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
