"""Deterministic identifiers for the sandbox.

Every GUID the sandbox hands out starts with ``5a4db0c5`` ("sandbox" in hex-speak) so that nobody
mistakes one for a real Azure subscription, tenant or object id; the rest is derived from the seed,
so a fresh sandbox with the same seed gives the same ids every time.
"""

from __future__ import annotations

import hashlib

SANDBOX_GUID_PREFIX = "5a4db0c5"


def sandbox_guid(seed: int, kind: str, n: int = 0) -> str:
    """The ``n``-th GUID of ``kind`` (subscription, tenant, principal, request, job...) for ``seed``."""
    h = hashlib.sha256(f"{seed}:{kind}:{n}".encode()).hexdigest()
    return f"{SANDBOX_GUID_PREFIX}-{h[0:4]}-4{h[4:7]}-8{h[7:10]}-{h[10:22]}"


def sandbox_hex(seed: int, kind: str, n: int, length: int = 32) -> str:
    """A deterministic lower-case hex string (job ids are 32 hex digits on the live service)."""
    return hashlib.sha256(f"{seed}:{kind}:{n}:hex".encode()).hexdigest()[:length]
