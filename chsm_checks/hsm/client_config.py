"""``azcloudhsm_resource.cfg``: which cluster the HSM client and management utility talk to.

The file is JSON, ``{"servers": [{"hostname": "hsm1.<name>-<unique>.privatelink.cloudhsm.azure.net"}]}``.
The hostname is a bootstrap endpoint: the tools discover the other nodes from it. After a restore,
every such file (Linux has one; Windows one for the client and one for the management utility)
must name the destination cluster's ``hsm1``.
"""

from __future__ import annotations

import json
from typing import Any


class ResourceConfigError(ValueError):
    """The file is not a resource configuration the utilities could use."""


def _servers(data: Any) -> list[dict[str, Any]]:
    servers = data.get("servers") if isinstance(data, dict) else None
    if not isinstance(servers, list) or not servers:
        raise ResourceConfigError("servers: missing or empty")
    if not all(isinstance(s, dict) and isinstance(s.get("hostname"), str) for s in servers):
        raise ResourceConfigError("servers[].hostname: missing")
    return servers


def bootstrap_hosts(text: str) -> list[str]:
    """The hostnames a resource configuration names, in order."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ResourceConfigError(f"not JSON: {exc}") from None
    return [str(s["hostname"]) for s in _servers(data)]


def pointed_at(text: str, hostname: str) -> str:
    """The same configuration with its bootstrap server replaced by ``hostname`` (other keys kept)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ResourceConfigError(f"not JSON: {exc}") from None
    servers = _servers(data)
    data["servers"] = [{**servers[0], "hostname": hostname}]
    return json.dumps(data, indent=2) + "\n"
