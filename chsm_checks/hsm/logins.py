"""Logins the HSM refused during a run, so that none of them is typed twice.

Every refused login counts towards the user's lockout (AWS: five), and a run logs the crypto user
in from several scenarios: with a wrong password configured, each would add a failure and a
second run would lock the user out. So a login refused with a code that counts is remembered for
the rest of the run, and the same user with the same password is not typed again: the scenarios
after it report the first refusal as the reason they could not be evaluated.
"""

from __future__ import annotations

import hashlib

from .errors import LoginNotRetried
from .parsers import KeyUtilResult

# Return codes that count a failed login towards the lockout: RET_USER_LOGIN_FAILURE (a locked
# user gets it too). Others (no such user, node unreachable) do not lock anyone out.
LOCKOUT_CODES = frozenset({0xA3})


class RefusedLogins:
    """The run's refused logins by user and password digest (the password itself is not kept)."""

    def __init__(self) -> None:
        self._refused: dict[tuple[str, str], str] = {}

    @staticmethod
    def _key(user: str, password: str) -> tuple[str, str]:
        return user, hashlib.sha256(password.encode("utf-8")).hexdigest()

    def check(self, user: str, password: str) -> None:
        """Raise :class:`LoginNotRetried` if this login was refused earlier in the run."""
        earlier = self._refused.get(self._key(user, password))
        if earlier is not None:
            raise LoginNotRetried(
                f"loginHSM of crypto user {user} was not tried: the same login was refused earlier in "
                f"this run ({earlier}); typing it again could lock the user out"
            )

    def note(self, user: str, password: str, result: KeyUtilResult) -> None:
        """Remember ``result`` if it is a refusal that counts towards the lockout."""
        returned = result.returned
        if returned.code in LOCKOUT_CODES:
            self._refused[self._key(user, password)] = (
                f"Cfm3LoginHSM returned 0x{returned.code:02x} {returned.message}".rstrip()
            )
