"""Recording and replaying ARM traffic: vcrpy configuration, the scrub profile, provenance."""

from __future__ import annotations

from .cassettes import Provenance, read_provenance, recording, replaying, slug, write_cassette
from .scrub import SUBSCRIPTION_PLACEHOLDER, Scrubber

__all__ = [
    "SUBSCRIPTION_PLACEHOLDER",
    "Provenance",
    "Scrubber",
    "read_provenance",
    "recording",
    "replaying",
    "slug",
    "write_cassette",
]
