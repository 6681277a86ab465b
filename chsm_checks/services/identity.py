"""Who makes a run's live observations: its credential, and that identity named by a keyed pseudonym."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from ..arm.client import default_credential, loopback_sign_in
from ..pseudonyms import PseudonymKey
from .settings import RunSettings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential


class RunIdentity:
    """The run's credential (made when first needed) and the key identities are pseudonymised under."""

    def __init__(self, settings: RunSettings, credential: TokenCredential | None = None) -> None:
        self._settings = settings
        self._credential = credential
        self._pseudonym_key: PseudonymKey | None = None

    def credential(self) -> TokenCredential | None:
        """azure-identity for Azure; none in replay, nor for the sandbox unless a loopback sign-in is
        configured (:func:`~chsm_checks.arm.client.loopback_sign_in`)."""
        if not self._settings.mode.reaches_azure:
            return None
        if self._credential is None:
            cloud = self._settings.target.cloud
            self._credential = loopback_sign_in() if cloud.is_loopback else default_credential(cloud)
        return self._credential

    @property
    def pseudonym_key(self) -> PseudonymKey:
        """The target's key, else one generated for this run and held in memory only (handed to the
        run's other processes, never written)."""
        if (named := self._settings.target.pseudonym_key) is not None:
            return named
        if self._pseudonym_key is None:
            self._pseudonym_key = PseudonymKey.generate()
        return self._pseudonym_key

    def pseudonym_key_handoff(self) -> str | None:
        """What a pytest-xdist worker of this run needs to name identities as this process does: the
        generated key; ``None`` when there is nothing to hand on (a replay names no identity, a named key
        is read from each process's environment, ids in clear need no key)."""
        if not self._settings.mode.reaches_azure or self._settings.target.spec.identities_in_clear:
            return None
        return self.pseudonym_key.handoff()

    def adopt_pseudonym_key(self, handoff: str) -> None:
        """Use the key the run's controller generated (see :meth:`pseudonym_key_handoff`)."""
        self._pseudonym_key = PseudonymKey.from_handoff(handoff)

    def identity_used(self) -> dict[str, str]:
        """Who made the live observations: the token's object id, as a keyed pseudonym; its object and
        tenant ids in clear only when the target sets ``identities_in_clear``."""
        credential = self.credential()
        target = self._settings.target
        if credential is None:
            return {"identity": "none: the sandbox on loopback needs no token"}
        claims = token_claims(credential.get_token(target.cloud.token_scope).token)
        object_id, tenant_id = claims.get("oid"), claims.get("tid")
        if target.spec.identities_in_clear:
            return {
                "object_id": str(object_id or "unknown"),
                "tenant_id": str(tenant_id or "unknown"),
                "identity_ids": "in clear: the target sets identities_in_clear",
            }
        # The tenant adds nothing to who ran the checks (an object id is unique on its own): it is left out.
        if not object_id:
            return {"object_id": "unknown: the token names no object id"}
        key = self.pseudonym_key
        return {"object_id": key.pseudonym(str(object_id)), "pseudonym": key.statement}

    def live_facts(self) -> dict[str, Any]:
        """The endpoint, cloud and identity a live observation was made at and by."""
        cloud = self._settings.target.cloud
        return {"endpoint": cloud.arm_endpoint, "cloud": cloud.name, **self.identity_used()}


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, read without verifying it (only to say who ran the checks)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
