"""A recording's provenance as evidence: what a replayed scenario's observations come from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..hsm.transcript import load_transcript
from ..suite import evidence_path
from .cassettes import read_provenance


def replay_provenance(path: Path) -> dict[str, Any]:
    """A recording's path, SHA-256, and when and from what it was recorded."""
    if not path.is_file():
        return {"recording": evidence_path(path), "problem": "not found"}
    try:
        if path.name.endswith(".transcript.yaml"):
            provenance = load_transcript(path).provenance
        else:
            provenance = read_provenance(path)
    except ConfigError as exc:
        return {"recording": evidence_path(path), "problem": str(exc)}
    data: dict[str, Any] = {
        "recording": evidence_path(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    if provenance is not None:
        data |= {
            "recorded_at": provenance.recorded_at,
            "origin": provenance.target_kind,
            "target": provenance.target_name,
            "tool_version": provenance.tool_version,
        }
        if provenance.source is not None:  # "imported from <tool>, <file>, <sha256>"
            data["source"] = provenance.source
    return data
