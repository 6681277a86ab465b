"""Keyed pseudonyms for the identities evidence names: an HMAC, never a plain hash.

A plain hash of an object id is reversed by hashing a list of candidate ids; an HMAC under a key
the reader does not hold is not, and pseudonyms under different keys cannot be linked. The key
comes from the environment variable a target names (so that an organisation can link its own runs
and check who ran one) or is generated for the run and kept in memory only (so that the pseudonym
links nothing beyond the run).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field

PREFIX = "pseudonym-"
MIN_KEY_BYTES = 16
GENERATED_KEY_BYTES = 32
GENERATED = "generated for this run"
_KEY_HELP = "it must hold the pseudonym key in hex, at least 16 random bytes (openssl rand -hex 32)"


@dataclass(frozen=True)
class PseudonymKey:
    """An HMAC-SHA256 key and where it came from: an environment variable's name, or generated."""

    secret: bytes = field(repr=False)
    source: str

    @classmethod
    def generate(cls) -> PseudonymKey:
        """A new random key for one run; nothing keeps it once the run ends."""
        return cls(secrets.token_bytes(GENERATED_KEY_BYTES), GENERATED)

    @classmethod
    def from_environment(cls, name: str) -> PseudonymKey:
        """The key in environment variable ``name`` (hex); ``ValueError`` saying why not, never the value."""
        text = os.environ.get(name, "").strip()
        if not text:
            raise ValueError(f"the environment variable {name} is not set or empty; {_KEY_HELP}")
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise ValueError(
                f"the environment variable {name} does not hold an even number of hex digits; {_KEY_HELP}"
            ) from None
        if len(secret) < MIN_KEY_BYTES:
            raise ValueError(f"the environment variable {name} holds {len(secret)} bytes; {_KEY_HELP}")
        return cls(secret, name)

    @classmethod
    def from_handoff(cls, text: str) -> PseudonymKey:
        """The run's generated key as :meth:`handoff` passed it to another process of the same run."""
        return cls(bytes.fromhex(text), GENERATED)

    def handoff(self) -> str | None:
        """A generated key, for the other processes of the run (pytest-xdist workers) to name identities
        as this one does; ``None`` for a named key, which each process reads from its environment."""
        return self.secret.hex() if self.source == GENERATED else None

    def pseudonym(self, object_id: str) -> str:
        """``pseudonym-`` and the first 128 bits, in hex, of HMAC-SHA256 over the object id.

        Object ids are GUIDs, which ignore case: one identity has one pseudonym however it is spelled.
        """
        message = b"chsm-checks object id:" + object_id.strip().lower().encode("utf-8")
        return PREFIX + hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    @property
    def statement(self) -> str:
        """One sentence on what the pseudonym is and who can link it."""
        if self.source == GENERATED:
            return (
                "HMAC-SHA256 of the object id under a key generated for this run and discarded: "
                "it names the same identity within this run and links nothing outside it"
            )
        return (
            f"HMAC-SHA256 of the object id under the key in the environment variable {self.source}: "
            "whoever holds that key can link runs and check an identity; nobody else can"
        )
