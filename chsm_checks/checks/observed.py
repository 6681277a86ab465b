"""What a read of one resource gave: the snapshot, "it does not exist", or "could not read it"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Observed(Generic[T]):
    """A resource as read. Exactly one of: ``value``, ``missing``, ``problem``."""

    resource_id: str
    value: T | None = None
    missing: bool = False
    problem: str | None = None

    @classmethod
    def found(cls, resource_id: str, value: T) -> Observed[T]:
        return cls(resource_id, value=value)

    @classmethod
    def absent(cls, resource_id: str) -> Observed[T]:
        return cls(resource_id, missing=True)

    @classmethod
    def unreadable(cls, resource_id: str, problem: str) -> Observed[T]:
        return cls(resource_id, problem=problem)
