"""The secrets a run holds or learns: the HSM crypto user's password, and what sessions typed."""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import ConfigError
from ..hsm.logins import RefusedLogins
from .settings import RunSettings


def ask_on_terminal(prompt: str) -> str | None:
    """Ask a person at the controlling terminal; ``None`` when there is none (CI, a pipe)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR))
    except OSError:
        return None
    import getpass

    return getpass.getpass(prompt)


class RunSecrets:
    """Every secret of the run, to mask wherever text leaves it; the HSM password among them."""

    def __init__(self, settings: RunSettings, ask: Callable[[str], str | None] | None = None) -> None:
        self._settings = settings
        self._ask = ask or ask_on_terminal
        self._hsm_password: str | None = None
        self.learnt: set[str] = set()
        #: One run's memory of refused logins, so no scenario types a refused password again.
        self.refused_logins = RefusedLogins()

    def known(self) -> set[str]:
        """Every secret this run holds or learnt of."""
        return self.learnt | ({self._hsm_password} if self._hsm_password else set())

    def hsm_password(self) -> str:
        """The crypto user's password: from the environment variable the target names, or asked for.

        Never from the target file; kept in memory only, and redacted from every transcript.
        """
        if self._hsm_password is None:
            target = self._settings.single_target
            hsm = target.spec.hsm
            name = hsm.password_env if hsm is not None else None
            value = os.environ.get(name) if name else None
            if not value and self._settings.mode.reaches_azure:
                value = self._ask(f"HSM password for crypto user {hsm.user if hsm else '?'}: ")
            if not value:
                where = f"set {name}" if name else "set [hsm] password_env in the target"
                raise ConfigError(f"{target.path}: hsm.password_env: no HSM password: {where}")
            self._hsm_password = value
        return self._hsm_password
