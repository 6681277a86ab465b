"""ARM path matching: literal segments compare case-insensitively, as ARM compares provider and type names."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chsm_checks.sandbox.settings import SandboxSettings
from chsm_checks.sandbox.wire import ArmReply, JsonObject


@dataclass(frozen=True)
class ArmCall:
    """Everything a handler may use: the state (held under the store's lock) and the request."""

    state: JsonObject
    settings: SandboxSettings
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    base_url: str
    path: str
    now: float
    api_version: str | None = None  # the request's, once checked against the route's resource type


Handler = Callable[[ArmCall], ArmReply]


@dataclass(frozen=True)
class ArmRoute:
    """A path template: literal segments or ``{name}``; a leading ``{name...}`` takes one or more."""

    method: str
    template: str
    resource_type: str  # the key of its api-version in API_VERSIONS
    handler: Handler

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The path parameters if ``segments`` fit the template, else None; the method is not compared."""
        pattern = self.template.strip("/").split("/")
        params: dict[str, str] = {}
        if pattern[0].endswith("...}"):
            rest = pattern[1:]
            if len(segments) <= len(rest):
                return None
            head = len(segments) - len(rest)
            params[pattern[0][1:-4]] = "/" + "/".join(segments[:head])
            pattern, segments = rest, segments[head:]
        if len(pattern) != len(segments):
            return None
        for want, got in zip(pattern, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want.lower() != got.lower():
                return None
        return params


def split_path(path: str) -> list[str]:
    """Path segments without the leading and trailing slash."""
    return path.strip("/").split("/")
