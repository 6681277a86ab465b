"""Redaction of HSM utility traffic, applied before anything is kept.

Two layers: every secret value the harness itself typed is replaced wherever it appears (the
utilities echo commands, so a password typed at the prompt comes back in the output); and, for
what nobody told us, the documented password positions are blanked by pattern: the value after
``-p``, the third argument of mgmt-util ``loginHSM``, the password arguments of ``createUser`` and
``changePswd``, and ``azcloudhsm_password=``/``HSM_PASSWORD=`` style assignments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "REDACTED"

# The user types mgmt-util commands take. Only a typed command has one right after its name: the
# utility's replies ("loginHSM success on server 0(…)") must come through untouched.
_ROLE = r"(?:PRECO|PCO|CO|CU|AU)"
_PATTERNS = (
    # azcloudhsm_util: loginHSM -u CU -s user -p <pw>   (and singlecmd forms)
    re.compile(r"(?P<keep>(?:^|\s)-p\s+)(?P<secret>\S+)"),
    # azcloudhsm_mgmt_util: loginHSM <ROLE> <user> <pw>
    re.compile(rf"(?P<keep>\bloginHSM\s+{_ROLE}\s+\S+\s+)(?P<secret>\S+)", re.IGNORECASE),
    # createUser <type> <user> <pw> ; changePswd <type> <user> <newpw>
    re.compile(rf"(?P<keep>\b(?:createUser|changePswd)\s+{_ROLE}\s+\S+\s+)(?P<secret>\S+)", re.IGNORECASE),
    # environment-style assignments
    re.compile(
        r"(?P<keep>\b(?:azcloudhsm_password|HSM_PASSWORD|[A-Z_]*PASSWORD)=)(?P<secret>\S+)", re.IGNORECASE
    ),
)


def redact_line(line: str) -> str:
    """Blank the documented password positions of one command line."""
    for pattern in _PATTERNS:
        line = pattern.sub(lambda m: m.group("keep") + REDACTED, line)
    return line


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Blank every known secret value, then the documented password positions, line by line."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return "".join(redact_line(part) for part in re.split(r"(\r?\n|\r)", text))
