"""Times as the live service writes them, and what it makes of them: etags, backup-id suffixes, ticks.

Every time here is an instant in whole microseconds since 1970 (UTC). Those of the seeded world are
derived from the seed (:func:`seeded_us`), so a fresh sandbox looks the same every time; those of jobs
come from the sandbox's clock, as they do on the live service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chsm_checks.sandbox.ids import sandbox_hex

_UNIX = datetime(1970, 1, 1, tzinfo=UTC)
_UNIX_EPOCH_DOTNET_US = 62_135_596_800 * 1_000_000  # 0001-01-01 to 1970-01-01
# The seeded world was "built" in the four weeks before this instant.
_SEEDED_BEFORE_US = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp()) * 1_000_000
_FOUR_WEEKS_US = 28 * 86_400 * 1_000_000


def unix_us(seconds: float) -> int:
    """A clock reading (seconds since 1970, as ``time.time()`` gives) in whole microseconds."""
    return round(seconds * 1_000_000)


def _datetime(instant_us: int) -> datetime:
    return _UNIX + timedelta(microseconds=instant_us)


def arm_time(instant_us: int) -> str:
    """ISO 8601 in UTC as .NET writes it: up to seven fractional digits, trailing zeros dropped, ``Z``
    (``2025-06-13T14:38:47.4153878Z``, ``2025-06-13T14:36:45Z``)."""
    moment = _datetime(instant_us)
    fraction = f"{moment.microsecond:06d}0".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def arm_seconds(instant_us: int) -> str:
    """The instant to the whole second, as the live service writes a job's ``startTime``."""
    return arm_time(instant_us - instant_us % 1_000_000)


def dotnet_ticks(instant_us: int) -> int:
    """The instant in .NET ticks (100 ns since year 1): 18 digits, like ARM's ``t`` parameter."""
    return (instant_us + _UNIX_EPOCH_DOTNET_US) * 10


def storage_etag(instant_us: int) -> str:
    """A Storage etag as ARM quotes it, ``"0x8DD…"``: the last change in .NET ticks, in hex (the spec's
    ``"0x8D592D74CC20EBA"`` is its container's ``lastModifiedTime``, 2018-03-26T05:06:14Z)."""
    return f'"0x{dotnet_ticks(instant_us):X}"'


def backup_id_suffix(instant_us: int) -> str:
    """The 16 digits that end a live backup id: the backup's start as ``yyyyMMddHHmmssff`` (UTC,
    hundredths of a second), e.g. ``2025061314364592`` for a backup started at 14:36:45.92."""
    moment = _datetime(instant_us)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 10_000:02d}"


def seeded_us(seed: int, kind: str, n: int = 0) -> int:
    """An instant in the four weeks before June 2025, the same for the same seed, ``kind`` and ``n``."""
    return _SEEDED_BEFORE_US - _FOUR_WEEKS_US + int(sandbox_hex(seed, f"time:{kind}", n), 16) % _FOUR_WEEKS_US
