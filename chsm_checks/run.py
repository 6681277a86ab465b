"""One run's settings and shared state: mode, target, cassettes, clock, credential."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .arm.client import ArmClient, default_credential, loopback_sign_in
from .arm.clock import Clock, RealClock, VirtualClock
from .arm.lro import PollPolicy
from .arm.retry import RetryPolicy
from .checks.catalogue import Catalogue, load_catalogue
from .checks.environment import Environment
from .checks.evaluate import evaluate
from .checks.model import Finding
from .checks.waivers import WaiverBook, load_waivers
from .errors import ConfigError, CouldNotEvaluate
from .evidence.store import ScenarioEvidence, exchange_record
from .hsm.drill import SourceInventory
from .hsm.inventory import KeyInventory, UserInventory
from .hsm.logins import RefusedLogins
from .hsm.runner import HsmRunner
from .hsm.sessions import Timeouts
from .hsm.transcript import load_transcript
from .modes import Mode
from .pseudonyms import PseudonymKey
from .recording import Provenance, Scrubber, read_provenance, recording, replaying, write_cassette
from .target import FleetTarget, Target

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from .fleet.audit import ExchangeCapture
    from .fleet.run import FleetRun


def replay_provenance(path: Path) -> dict[str, Any]:
    """A recording's provenance as evidence: its path, SHA-256, when and from what it was recorded."""
    if not path.is_file():
        return {"recording": path.as_posix(), "problem": "not found"}
    try:
        if path.name.endswith(".transcript.yaml"):
            provenance = load_transcript(path).provenance
        else:
            provenance = read_provenance(path)
    except ConfigError as exc:
        return {"recording": path.as_posix(), "problem": str(exc)}
    data: dict[str, Any] = {
        "recording": path.as_posix(),
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


def ask_on_terminal(prompt: str) -> str | None:
    """Ask a person at the controlling terminal; ``None`` when there is none (CI, a pipe)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR))
    except OSError:
        return None
    import getpass

    return getpass.getpass(prompt)


@dataclass
class RunContext:
    """Everything a scenario needs to know about the run it belongs to."""

    mode: Mode
    target: Target | FleetTarget
    cassette_dir: Path
    allow_mutations_flag: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    hsm_password_source: Callable[[str], str | None] | None = field(default=None, repr=False)
    report_dir: Path | None = None
    secrets: set[str] = field(default_factory=set, repr=False)
    waivers_path: Path | None = None
    waiver_notes: list[str] = field(default_factory=list, repr=False)
    _catalogue: Catalogue | None = field(default=None, repr=False)
    _waivers: WaiverBook | None = field(default=None, repr=False)
    _source_inventory: SourceInventory | None = field(default=None, repr=False)
    restore_succeeded: bool = field(default=False, repr=False)  # a restore in this run (or its recording)
    _hsm_password: str | None = field(default=None, repr=False)
    _hsm_refused_logins: RefusedLogins = field(default_factory=RefusedLogins, repr=False)
    _credential: TokenCredential | None = field(default=None, repr=False)
    _scrubber: Scrubber | None = field(default=None, repr=False)
    _fleet: FleetRun | None = field(default=None, repr=False)
    _pseudonym_key: PseudonymKey | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Reports show fixture values; this one says what the run is and nothing more.
        return (
            f"RunContext(mode={self.mode}, target={self.target.name}, allow_mutations={self.allow_mutations})"
        )

    @property
    def allow_mutations(self) -> bool:
        """Replay sends nothing anywhere, so it replays whatever the recording did."""
        return self.mode == "replay" or self.allow_mutations_flag

    @property
    def single_target(self) -> Target:
        """The backup/restore target; a configuration error for a fleet target."""
        if isinstance(self.target, FleetTarget):
            raise ConfigError(
                f"{self.target.path}: fleet: a fleet target runs features/fleet.feature "
                "(chsm-checks run picks it), not the backup/restore features"
            )
        return self.target

    @property
    def is_fleet(self) -> bool:
        return isinstance(self.target, FleetTarget)

    @property
    def scrubber(self) -> Scrubber:
        """One scrubber per run, so placeholders are the same in every cassette of the run.

        A fleet spans subscriptions, and its evidence must say which cluster is which: its
        subscription ids stay; tenant, principal and client ids are replaced as everywhere.
        """
        if self._scrubber is None:
            subscription = self.target.subscription_id if isinstance(self.target, Target) else ""
            self._scrubber = Scrubber(subscription_id=subscription)
        return self._scrubber

    def fleet_summary(self) -> dict[str, Any] | None:
        """What this process's fleet audit did (``None`` for a backup/restore target)."""
        return self._fleet.summary() if self._fleet is not None else None

    def close(self) -> None:
        """Release what the run holds open (the fleet's client)."""
        if self._fleet is not None:
            self._fleet.close()

    @property
    def fleet(self) -> FleetRun:
        """The run's fleet audit: a fleet target, live, read-only."""
        if not isinstance(self.target, FleetTarget):
            raise ConfigError(f"{self.target.path}: fleet: the target names no [fleet]")
        if self.mode != "live":
            raise ConfigError(
                f"{self.target.path}: fleet: a fleet audit runs with --mode live (read-only); "
                "recording and replaying fleets is not supported"
            )
        if self._fleet is None:
            from .arm.pacing import SubscriptionPacer
            from .fleet.run import FleetRun

            def client(capture: ExchangeCapture) -> ArmClient:
                clock = self.new_clock()
                return ArmClient(
                    self.target.cloud,
                    credential=self.credential(),
                    clock=clock,
                    retry=self.retry_policy,
                    timeout_seconds=self.target.spec.arm.request_timeout_seconds,
                    read_only=True,
                    on_exchange=capture.on_exchange,
                    pacer=SubscriptionPacer(clock),
                    ca_file=self.target.arm_ca_file,
                )

            self._fleet = FleetRun(self.target, client)
        return self._fleet

    def credential(self) -> TokenCredential | None:
        """azure-identity for Azure; none for replay, nor for the sandbox unless a loopback sign-in is
        configured (:func:`~chsm_checks.arm.client.loopback_sign_in`)."""
        if self.mode == "replay":
            return None
        if self._credential is None:
            cloud = self.target.cloud
            self._credential = loopback_sign_in() if cloud.is_loopback else default_credential(cloud)
        return self._credential

    def new_clock(self) -> Clock:
        return VirtualClock() if self.mode == "replay" else RealClock()

    @property
    def retry_policy(self) -> RetryPolicy:
        arm = self.target.spec.arm
        return RetryPolicy(max_attempts=arm.max_attempts, budget_seconds=arm.retry_budget_seconds)

    @property
    def poll_policy(self) -> PollPolicy:
        arm = self.target.spec.arm
        return PollPolicy(
            default_interval_seconds=arm.poll_interval_seconds,
            timeout_seconds=arm.operation_timeout_seconds,
        )

    def _client(
        self,
        transport: Any,
        *,
        read_only: bool,
        on_event: Callable[[str], None] | None,
        evidence: ScenarioEvidence | None = None,
    ) -> ArmClient:
        def keep(request: httpx.Request, response: httpx.Response, attempt: int) -> None:
            if evidence is not None and (
                record := exchange_record(self.scrubber, request, response, attempt)
            ):
                evidence.exchange(record)

        return ArmClient(
            self.target.cloud,
            credential=self.credential(),
            transport=transport,
            clock=self.new_clock(),
            retry=self.retry_policy,
            timeout_seconds=self.target.spec.arm.request_timeout_seconds,
            replay=self.mode == "replay",
            read_only=read_only,
            on_event=None if self.mode == "replay" else on_event,
            on_exchange=keep,
            ca_file=self.target.arm_ca_file,
        )

    def read_only_client(self) -> ArmClient:
        """A client that may only read, outside any scenario (nothing it does is recorded)."""
        return self._client(None, read_only=True, on_event=None)

    @contextmanager
    def scenario_client(
        self,
        cassette: Path,
        scenario: str,
        *,
        read_only: bool,
        on_event: Callable[[str], None] | None,
        keep_recording: Callable[[], bool],
        evidence: ScenarioEvidence | None = None,
    ) -> Iterator[ArmClient]:
        """An ARM client for one scenario: over its cassette in replay, recording it in record mode.

        In record mode the cassette is written after the block, only if ``keep_recording()`` says so.
        """
        if self.mode == "replay":
            with (
                replaying(cassette, self.scrubber) as transport,
                self._client(transport, read_only=read_only, on_event=on_event, evidence=evidence) as client,
            ):
                yield client
            return
        if self.mode == "live":
            with self._client(None, read_only=read_only, on_event=on_event, evidence=evidence) as client:
                yield client
            return
        with (
            recording(self.scrubber) as recorded,
            self._client(None, read_only=read_only, on_event=on_event, evidence=evidence) as client,
        ):
            yield client
        if keep_recording():
            write_cassette(cassette, recorded, self.provenance(scenario), self.scrubber)

    def known_secrets(self) -> set[str]:
        """Every secret this run holds or learnt of (to mask wherever text leaves the run)."""
        return self.secrets | ({self._hsm_password} if self._hsm_password else set())

    def hsm_password(self) -> str:
        """The crypto user's password: from the environment variable the target names, or asked for.

        Never from the target file; kept in memory only, and redacted from every transcript.
        """
        if self._hsm_password is None:
            hsm = self.single_target.spec.hsm
            name = hsm.password_env if hsm is not None else None
            value = os.environ.get(name) if name else None
            if not value and self.mode != "replay":
                ask = self.hsm_password_source or ask_on_terminal
                value = ask(f"HSM password for crypto user {hsm.user if hsm else '?'}: ")
            if not value:
                where = f"set {name}" if name else "set [hsm] password_env in the target"
                raise ConfigError(f"{self.target.path}: hsm.password_env: no HSM password: {where}")
            self._hsm_password = value
        return self._hsm_password

    def hsm_runner(
        self, transcript: Path, workdir: Path, evidence: ScenarioEvidence | None = None
    ) -> HsmRunner:
        """HSM utility sessions for one scenario, in this run's mode."""
        hsm = self.single_target.spec.hsm
        if hsm is None:
            raise ConfigError(f"{self.target.path}: hsm: the target names no HSM utilities")
        return HsmRunner(
            mode=self.mode,
            mgmt_util=hsm.mgmt_util,
            util=hsm.util,
            mgmt_config=hsm.resource_cfg[0],
            transcript_path=transcript,
            workdir=workdir,
            timeouts=Timeouts(startup=hsm.startup_timeout_seconds, command=hsm.command_timeout_seconds),
            password=self.hsm_password,
            refused_logins=self._hsm_refused_logins,
            on_session_end=(
                (lambda record: evidence.add_yaml(f"hsm-{record.utility}", asdict(record)))
                if evidence is not None
                else None
            ),
        )

    def provenance(self, scenario: str) -> Provenance:
        """Provenance for a recording made now by this run."""
        return Provenance.now(
            target_kind=self.target.kind,
            target_name=self.target.name,
            cloud=self.target.cloud.name,
            scenario=scenario,
        )

    def keep_source_inventory(self, keys: KeyInventory, users: UserInventory, host: str) -> None:
        """Keep the source's inventory (read from ``host``) for the restore checks, and as evidence
        beside the reports."""
        self._source_inventory = SourceInventory(keys, users, host)
        if self.report_dir is not None:
            evidence = self.report_dir / "evidence" / "hsm-source-inventory.json"
            evidence.parent.mkdir(parents=True, exist_ok=True)
            body = {"mode": self.mode, "host": host, "keys": keys.to_json()["keys"], "users": users.to_json()}
            evidence.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")

    def require_a_restore(self) -> None:
        """The restored-destination scenarios validate a restore this run made (in replay: as
        recorded); without one there is nothing to validate, and they are not applicable."""
        if not self.restore_succeeded:
            from .outcomes import not_applicable

            not_applicable(
                "no restore into the destination succeeded earlier in this run "
                "(backup_restore.feature: 'A restore into a NotActivated destination completes and "
                "activates it'), so there is no restored destination to validate"
            )

    def source_inventory(self) -> SourceInventory:
        """The source inventory taken earlier in this run; an error if none was."""
        if self._source_inventory is None:
            raise CouldNotEvaluate(
                "no source inventory was taken before the backup in this run "
                "(backup_restore.feature: 'The source cluster's keys and users are inventoried')"
            )
        return self._source_inventory

    @property
    def catalogue(self) -> Catalogue:
        """The checks' metadata joined with the framework mappings."""
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        return self._catalogue

    def load_waivers(self) -> None:
        """Read the waiver file (``--waivers``, else the target's ``waivers``); errors are ConfigError."""
        path = self.waivers_path or self.target.waivers_path
        self._waivers = load_waivers(path, self.catalogue) if path is not None else None

    def judge(self, check_id: str, environment: Environment) -> list[Finding]:
        """Evaluate one catalogue check and apply the waivers in force now."""
        if check_id not in self.catalogue:
            raise ConfigError(f"unknown check {check_id!r}: it is not in the catalogue")
        # A finding may quote an id the scrubber replaces in evidence (an identity's principal): reports
        # show the same placeholder, so they hold no id that the recordings do not.
        findings = [_with_strings(f, self.scrubber.identities) for f in evaluate(check_id, environment)]
        if not findings:
            raise CouldNotEvaluate(f"check {check_id} produced no finding: nothing was judged")
        if self._waivers is None:
            return findings
        applied = self._waivers.apply(findings, datetime.now(UTC))
        self.waiver_notes.extend(note for note in applied.notes() if note not in self.waiver_notes)
        return list(applied.findings)

    @property
    def pseudonym_key(self) -> PseudonymKey:
        """The key identities are pseudonymised under: the target's, else one generated for this run
        and held in memory only (handed to the run's other processes, never written)."""
        if self.target.pseudonym_key is not None:
            return self.target.pseudonym_key
        if self._pseudonym_key is None:
            self._pseudonym_key = PseudonymKey.generate()
        return self._pseudonym_key

    def pseudonym_key_handoff(self) -> str | None:
        """What a pytest-xdist worker of this run needs to name identities as this process does: the
        generated key; ``None`` when there is nothing to hand on (replay names no identity, a named key
        is read from each process's environment, ids in clear need no key)."""
        if self.mode == "replay" or self.target.spec.identities_in_clear:
            return None
        return self.pseudonym_key.handoff()

    def adopt_pseudonym_key(self, handoff: str) -> None:
        """Use the key the run's controller generated (see :meth:`pseudonym_key_handoff`)."""
        self._pseudonym_key = PseudonymKey.from_handoff(handoff)

    def identity_used(self) -> dict[str, str]:
        """Who made the live observations: the token's object id, as a keyed pseudonym; its object and
        tenant ids in clear only when the target sets ``identities_in_clear``."""
        credential = self.credential()
        if credential is None:
            return {"identity": "none: the sandbox on loopback needs no token"}
        claims = token_claims(credential.get_token(self.target.cloud.token_scope).token)
        object_id, tenant_id = claims.get("oid"), claims.get("tid")
        if self.target.spec.identities_in_clear:
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

    def provenance_of(self, cassette: Path, transcript: Path | None) -> dict[str, Any]:
        """Where a scenario's observations come from. A replay is never labelled LIVE."""
        if self.mode == "replay":
            recorded = {"kind": "REPLAY", **replay_provenance(cassette)}
            if transcript is not None and transcript.is_file():
                recorded["transcript"] = replay_provenance(transcript)
            return recorded
        return {
            "kind": "LIVE",
            "mode": self.mode,
            "endpoint": self.target.cloud.arm_endpoint,
            "cloud": self.target.cloud.name,
            **self.identity_used(),
        }


def _with_strings(finding: Finding, change: Callable[[str], str]) -> Finding:
    """``finding`` with ``change`` applied to its message and to every string it observed."""

    def each(value: Any) -> Any:
        if isinstance(value, str):
            return change(value)
        if isinstance(value, Mapping):
            return {k: each(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(each(v) for v in value)
        return value

    return replace(finding, message=change(finding.message), observed=each(finding.observed))


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, read without verifying it (only to say who ran the checks)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
