"""``chsm-checks init``: a target file from what ARM shows of a subscription.

Discovery only reads (its client is read-only): the subscription's Cloud HSM clusters (in one
resource group, if asked), the source cluster's user-assigned identity, and its backup resources.
Those come first from the convention tags a fleet uses (:mod:`chsm_checks.fleet.discovery`:
``chsm-backup-storage-account``, ``-container``, ``-private-endpoint``, ``-virtual-network``), and
for whatever the tags leave out, from ARM: the subscription's storage accounts with an approved
private endpoint, the chosen account's containers, the private endpoints on its blob service.

Where more than one answer fits, a person at a terminal is asked (the clusters always, so that which
is which is a person's choice); anywhere else the option naming it is required, and the refusal says
which. A destination that is the source, or is not ``NotActivated``, is refused (a restore into it
fails and leaves it nonfunctional), as is a source that is not ``Active`` (there is nothing to back
up). The file is written with comments, then read back with :func:`~chsm_checks.target.load_target`
before it takes its place: what ``init`` writes, ``run`` accepts. An existing file stays unless
``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from .arm import versions
from .arm.client import ArmClient
from .arm.resources import get_private_endpoint
from .arm.snapshots import StorageAccountSnapshot, id_segment
from .errors import ConfigError
from .fleet.discovery import (
    TAG_CONTAINER,
    TAG_PRIVATE_ENDPOINT,
    TAG_STORAGE_ACCOUNT,
    TAG_VIRTUAL_NETWORK,
    FleetMember,
    discover,
)
from .target import load_target

T = TypeVar("T")

ACTIVE, NOT_ACTIVATED = "Active", "NotActivated"


@dataclass(frozen=True)
class Choice(Generic[T]):
    """One answer that fits: how a person sees it (``resource-group/name``), and what it stands for."""

    label: str
    value: T
    note: str = ""

    def named(self, given: str) -> bool:
        """Whether ``given`` (a name, or ``resource-group/name``) names this answer, as ARM compares."""
        given = given.strip().lower()
        return given in (self.label.lower(), self.label.rsplit("/", 1)[-1].lower())


#: Asks a person ``question`` about ``choices`` (``default`` the index Enter takes); the index chosen.
Ask = Callable[[str, Sequence["Choice[Any]"], int | None], int]


def ask_at_terminal(read: Callable[[str], str] = input, say: Callable[[str], None] = print) -> Ask:
    """Asks on the terminal: a numbered list, Enter for the default, again until the answer is one."""

    def ask(question: str, choices: Sequence[Choice[Any]], default: int | None) -> int:
        say(question)
        for number, choice in enumerate(choices, 1):
            say(f"  {number}) {choice.label}" + (f"  ({choice.note})" if choice.note else ""))
        prompt = f"number [{default + 1}]: " if default is not None else "number: "
        while True:
            answer = read(prompt).strip()
            if not answer and default is not None:
                return default
            if answer.isdigit() and 1 <= int(answer) <= len(choices):
                return int(answer) - 1
            say(f"  answer with a number from 1 to {len(choices)}")

    return ask


@dataclass(frozen=True)
class Wanted:
    """What the person said: the subscription, and any answer named up front."""

    subscription: str
    resource_group: str | None = None
    source: str | None = None
    destination: str | None = None
    identity: str | None = None
    storage_account: str | None = None
    container: str | None = None
    private_endpoint: str | None = None


@dataclass(frozen=True)
class Ref:
    """A resource by its ARM id, and the parts a target file names."""

    id: str

    @property
    def subscription(self) -> str:
        return id_segment(self.id, "subscriptions")

    @property
    def resource_group(self) -> str:
        return id_segment(self.id, "resourceGroups")

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.resource_group}/{self.name}"


@dataclass
class Draft:
    """A target as discovered, and where each part came from (said in the file's comments)."""

    subscription: str
    source: Ref
    destination: Ref
    identity: Ref
    storage_account: Ref
    container: str
    private_endpoint: Ref
    virtual_network: Ref
    came_from: dict[str, str] = field(default_factory=dict)


class Discovery:
    """Finds one target's parts in a subscription, asking (``ask``) or refusing where several fit."""

    def __init__(self, client: ArmClient, wanted: Wanted, ask: Ask | None) -> None:
        self.client = client
        self.wanted = wanted
        self.ask = ask
        self.came_from: dict[str, str] = {}

    # -- choosing ------------------------------------------------------------------------------------

    def _pick(
        self,
        what: str,
        flag: str,
        choices: Sequence[Choice[T]],
        given: str | None,
        *,
        none: str,
        confirm: bool = False,
    ) -> Choice[T]:
        if given is not None:
            found = [c for c in choices if c.named(given)]
            if len(found) == 1:
                self.came_from[what] = f"named by {flag}"
                return found[0]
            labels = ", ".join(c.label for c in (found or choices)) or "none"
            if found:
                raise ConfigError(
                    f"{flag}: {given!r} names {len(found)} {what}s ({labels}); give resource-group/name"
                )
            raise ConfigError(f"{flag}: no {what} {given!r} fits; those that do: {labels}")
        if not choices:
            raise ConfigError(none)
        if len(choices) == 1 and not (confirm and self.ask is not None):
            self.came_from[what] = f"the only {what} that fits"
            return choices[0]
        if self.ask is None:
            labels = ", ".join(c.label for c in choices)
            raise ConfigError(
                f"{flag}: {len(choices)} {what}s fit ({labels}); name one with {flag}, "
                "or run chsm-checks init at a terminal to choose"
            )
        index = self.ask(f"Which is the {what}?", choices, 0 if len(choices) == 1 else None)
        self.came_from[what] = "chosen at the terminal"
        return choices[index]

    # -- the parts -----------------------------------------------------------------------------------

    def clusters(self) -> list[FleetMember]:
        groups = [self.wanted.resource_group] if self.wanted.resource_group else []
        members = sorted(
            discover(self.client, [self.wanted.subscription], resource_groups=groups),
            key=lambda m: m.cluster.id.lower(),
        )
        if not members:
            group = self.wanted.resource_group
            where = f" resource group {group} of" if group else ""
            raise ConfigError(
                f"--subscription: no Cloud HSM cluster in{where} subscription {self.wanted.subscription}"
            )
        return members

    def refuse_what_is_named_wrongly(self, members: Sequence[FleetMember]) -> None:
        """A named source that is not Active, or a named destination that is the source or is not
        NotActivated: refused before anything is asked."""
        source = _named_cluster(members, self.wanted.source)
        destination = _named_cluster(members, self.wanted.destination)
        if source is not None and (state := source.cluster.activation_state) != ACTIVE:
            raise ConfigError(
                f"--source: {_cluster_choice(source).label} is {state}; "
                "a backup needs an activated source cluster"
            )
        if destination is None:
            return
        if source is not None and destination.cluster.id.lower() == source.cluster.id.lower():
            raise ConfigError(
                f"--destination: names the source cluster {_cluster_choice(source).label}; "
                "a restore into the source is unsupported"
            )
        if (state := destination.cluster.activation_state) != NOT_ACTIVATED:
            raise ConfigError(
                f"--destination: {_cluster_choice(destination).label} is {state}; "
                "a restore needs a NotActivated destination (into any other it fails and leaves "
                "the destination nonfunctional)"
            )

    def source(self, members: Sequence[FleetMember]) -> FleetMember:
        active = [_cluster_choice(m) for m in members if m.cluster.activation_state == ACTIVE]
        return self._pick(
            "source cluster",
            "--source",
            active,
            self.wanted.source,
            none="--source: no cluster reads Active; a backup needs an activated source cluster "
            f"(found: {_states(members)})",
            confirm=True,
        ).value

    def destination(self, members: Sequence[FleetMember], source: FleetMember) -> FleetMember:
        if (named := _named_cluster(members, self.wanted.destination)) is not None and (
            named.cluster.id.lower() == source.cluster.id.lower()
        ):
            raise ConfigError(
                f"--destination: names the source cluster {_cluster_choice(source).label}; "
                "a restore into the source is unsupported"
            )
        fit = [
            _cluster_choice(m)
            for m in members
            if m.cluster.activation_state == NOT_ACTIVATED
            and m.cluster.id.lower() != source.cluster.id.lower()
        ]
        return self._pick(
            "destination cluster",
            "--destination",
            fit,
            self.wanted.destination,
            none="--destination: no cluster but the source reads NotActivated; a restore needs a "
            f"NotActivated destination (found: {_states(members)})",
            confirm=True,
        ).value

    def identity(self, source: FleetMember) -> Ref:
        choices = [Choice(Ref(i.resource_id).label, Ref(i.resource_id)) for i in source.cluster.identities]
        return self._pick(
            "identity",
            "--identity",
            choices,
            self.wanted.identity,
            none=f"source cluster {source.cluster.name} has no user-assigned managed identity; "
            "backup and restore need one on each cluster",
        ).value

    def storage_account(self, source: FleetMember) -> Ref:
        if (tagged := source.storage_account_id) and self.wanted.storage_account is None:
            self.came_from["storage account"] = f"the source cluster's {TAG_STORAGE_ACCOUNT} tag"
            return self._same_subscription(Ref(tagged), TAG_STORAGE_ACCOUNT)
        path = f"/subscriptions/{self.wanted.subscription}/providers/Microsoft.Storage/storageAccounts"
        listed = self.client.list_pages(path, versions.STORAGE)
        accounts = [StorageAccountSnapshot.from_arm(item) for item in listed]
        private = [a for a in accounts if any(c.status == "Approved" for c in a.private_endpoint_connections)]
        choices = [Choice(Ref(a.id).label, Ref(a.id)) for a in private or accounts]
        return self._pick(
            "storage account",
            "--storage-account",
            choices,
            self.wanted.storage_account,
            none=f"--storage-account: subscription {self.wanted.subscription} holds no storage account",
        ).value

    def container(self, source: FleetMember, account: Ref) -> str:
        if (tagged := source.container) and self.wanted.container is None:
            self.came_from["container"] = f"the source cluster's {TAG_CONTAINER} tag"
            return tagged
        path = f"{account.id}/blobServices/default/containers"
        listed = self.client.list_pages(path, versions.STORAGE)
        names = [str(item["name"]) for item in listed if item.get("name")]
        return self._pick(
            "container",
            "--container",
            [Choice(name, name) for name in sorted(names)],
            self.wanted.container,
            none=f"--container: storage account {account.name} holds no blob container",
        ).value

    def private_endpoint(self, source: FleetMember, account: Ref) -> Ref:
        if (tagged := source.private_endpoint_id) and self.wanted.private_endpoint is None:
            self.came_from["private endpoint"] = f"the source cluster's {TAG_PRIVATE_ENDPOINT} tag"
            return self._same_subscription(Ref(tagged), TAG_PRIVATE_ENDPOINT)
        snapshot = StorageAccountSnapshot.from_arm(self.client.get_json(account.id, versions.STORAGE))
        on_blob = []
        for connection in snapshot.private_endpoint_connections:
            if connection.status != "Approved" or not connection.private_endpoint_id:
                continue
            endpoint = get_private_endpoint(self.client, connection.private_endpoint_id)
            if any(
                (link.service_id or "").lower() == account.id.lower() and "blob" in link.group_ids
                for link in endpoint.connections
            ):
                on_blob.append(Choice(Ref(endpoint.id).label, Ref(endpoint.id)))
        return self._pick(
            "private endpoint",
            "--private-endpoint",
            on_blob,
            self.wanted.private_endpoint,
            none=f"storage account {account.name}: no approved private endpoint reaches its blob service; "
            f"the tutorial requires one (or tag the source cluster {TAG_PRIVATE_ENDPOINT})",
        ).value

    def virtual_network(self, source: FleetMember, endpoint: Ref) -> Ref:
        if tagged := source.virtual_network_id:
            self.came_from["virtual network"] = f"the source cluster's {TAG_VIRTUAL_NETWORK} tag"
            return Ref(tagged)
        subnet = get_private_endpoint(self.client, endpoint.id).subnet_id or ""
        if "/subnets/" not in subnet.lower():
            raise ConfigError(f"private endpoint {endpoint.label}: ARM names no subnet for it")
        self.came_from["virtual network"] = "the private endpoint's subnet"
        return Ref(subnet[: subnet.lower().index("/subnets/")])

    def _same_subscription(self, ref: Ref, tag: str) -> Ref:
        if ref.subscription.lower() != self.wanted.subscription.lower() or not ref.resource_group:
            raise ConfigError(
                f"the source cluster's {tag} tag names {ref.id}, not a resource in subscription "
                f"{self.wanted.subscription}; a target's backup resources share its subscription"
            )
        return ref

    def draft(self) -> Draft:
        members = self.clusters()
        self.refuse_what_is_named_wrongly(members)
        source = self.source(members)
        destination = self.destination(members, source)
        account = self.storage_account(source)
        endpoint = self.private_endpoint(source, account)
        return Draft(
            subscription=self.wanted.subscription,
            source=Ref(source.cluster.id),
            destination=Ref(destination.cluster.id),
            identity=self.identity(source),
            storage_account=account,
            container=self.container(source, account),
            private_endpoint=endpoint,
            virtual_network=self.virtual_network(source, endpoint),
            came_from=self.came_from,
        )


def _named_cluster(members: Sequence[FleetMember], given: str | None) -> FleetMember | None:
    """The one cluster ``given`` names, if it names exactly one."""
    named = [m for m in members if given is not None and _cluster_choice(m).named(given)]
    return named[0] if len(named) == 1 else None


def _cluster_choice(member: FleetMember) -> Choice[FleetMember]:
    ref = Ref(member.cluster.id)
    return Choice(ref.label, member, member.cluster.activation_state or "activation state not given")


def _states(members: Sequence[FleetMember]) -> str:
    return ", ".join(f"{Ref(m.cluster.id).label} {m.cluster.activation_state}" for m in members)


# -- the file ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addressing:
    """How the written target reaches ARM, and the sandbox's HSM client when it is one."""

    cloud: str | None = "AzureCloud"
    arm_endpoint: str | None = None
    arm_ca_file: str | None = None
    sandbox_crypto_user: str | None = None  # set when the endpoint is a chsm-checks sandbox


def _q(text: str) -> str:
    return json.dumps(text)  # a TOML basic string: JSON's escapes are TOML's


def _name_for(source: Ref) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", source.name)[:64] or "target"


def render(draft: Draft, addressing: Addressing, *, name: str | None = None, today: str) -> str:
    """The target file's text: every value discovered, with where it came from and what it is for."""
    came = draft.came_from
    lines = [
        f"# A chsm-checks target, written by `chsm-checks init` on {today} from what ARM showed of",
        f"# subscription {draft.subscription}. Read it through, then audit read-only with:",
        "#   chsm-checks run --mode live --target THIS-FILE",
        "# (a backup and restore drill also needs --allow-mutations, and the [hsm] table below).",
        f"name = {_q(name or _name_for(draft.source))}",
        f"description = {_q(f'Backup and restore of {draft.source.label} into {draft.destination.label}')}",
    ]
    if addressing.arm_endpoint is not None:
        lines += [
            "# The ARM endpoint on this machine (a chsm-checks sandbox).",
            f"arm_endpoint = {_q(addressing.arm_endpoint)}",
        ]
        if addressing.arm_ca_file is not None:
            lines.append(f"arm_ca_file = {_q(addressing.arm_ca_file)}")
    else:
        lines.append(f"cloud = {_q(addressing.cloud or 'AzureCloud')}")
    lines += [
        f"subscription_id = {_q(draft.subscription)}",
        "",
        f"# The cluster backed up: it reads Active. Found: {came.get('source cluster')}.",
        "[source]",
        f"resource_group = {_q(draft.source.resource_group)}",
        f"cluster = {_q(draft.source.name)}",
        "",
        "# The cluster restored into: it reads NotActivated and is not the source (a restore into any",
        f"# other fails and leaves it nonfunctional). Found: {came.get('destination cluster')}.",
        "[destination]",
        f"resource_group = {_q(draft.destination.resource_group)}",
        f"cluster = {_q(draft.destination.name)}",
        "",
        "# Where the backups go.",
        f"# Account found: {came.get('storage account')}; container: {came.get('container')}.",
        "[storage]",
        f"resource_group = {_q(draft.storage_account.resource_group)}",
        f"account = {_q(draft.storage_account.name)}",
        f"container = {_q(draft.container)}",
        "",
        "# The user-assigned managed identity the clusters back up and restore through; it must hold",
        f"# Storage Blob Data Contributor on the account. Found: {came.get('identity')}.",
        "[identity]",
        f"resource_group = {_q(draft.identity.resource_group)}",
        f"name = {_q(draft.identity.name)}",
        "",
        "# The private endpoint of the account's blob service, and the virtual network it must sit in.",
        f"# Found: {came.get('private endpoint')}; network: {came.get('virtual network')}.",
        "[private_endpoint]",
        f"resource_group = {_q(draft.private_endpoint.resource_group)}",
        f"name = {_q(draft.private_endpoint.name)}",
        f"virtual_network = {_q(draft.virtual_network.name)}",
    ]
    if draft.virtual_network.resource_group.lower() != draft.private_endpoint.resource_group.lower():
        lines.append(f"virtual_network_resource_group = {_q(draft.virtual_network.resource_group)}")
    if addressing.sandbox_crypto_user is not None:
        lines += [
            "",
            "# The sandbox's jobs take seconds, not minutes: poll every second (the live default is 30 s).",
            "[arm]",
            "poll_interval_seconds = 1",
        ]
    lines += [
        "",
        "# What the protection checks require. These are the defaults: set them to your policy.",
        "[protection]",
        "# min_soft_delete_days = 7      # blob and container soft delete, in days",
        "# require_immutability = false  # a locked time-based retention policy on the container",
        "# require_alternate_site = false  # a geo-redundant account",
        "# rpo_hours = 24                # the latest successful backup is at most this old",
        "# rto_minutes = 240             # a drill validates the destination within this",
        "",
        "# A container the identity may not write, for the scenario that shows such a backup fails",
        "# (not applicable without it).",
        "# [negative]",
        '# unwritable_container_uri = "https://ACCOUNT.blob.core.windows.net/CONTAINER"',
        "",
    ]
    if addressing.sandbox_crypto_user is not None:
        lines += [
            "# The sandbox's HSM client, wherever its --state; the crypto user's password is the",
            "# sandbox's: export CHSM_SANDBOX_CU_PASSWORD=sandbox-cu-password, or be asked.",
            "[hsm]",
            'client = "sandbox"',
            f"user = {_q(addressing.sandbox_crypto_user)}",
            'password_env = "CHSM_SANDBOX_CU_PASSWORD"',
            "manage_resource_cfg = true",
        ]
    else:
        lines += [
            "# The HSM client on this machine, for validating a restore (the drill); without this table",
            "# the drill's scenarios are not applicable. The paths are the client's Linux defaults.",
            "# [hsm]",
            '# user = "cu1"                    # a crypto user of the source cluster',
            '# password_env = "CHSM_CU_PASSWORD"  # the variable holding its password (else asked)',
            '# mgmt_util = "/opt/azurecloudhsm/bin/azcloudhsm_mgmt_util"',
            '# util = "/opt/azurecloudhsm/bin/azcloudhsm_util"',
            '# resource_cfg = ["/opt/azurecloudhsm/bin/azcloudhsm_resource.cfg"]',
        ]
    return "\n".join(lines) + "\n"


def write_target(out: Path, text: str, *, force: bool) -> None:
    """Write ``text`` at ``out`` once :func:`load_target` accepts it; an existing file stays unless
    ``force``. Nothing is left half-written: the file appears whole, or not at all."""
    if out.exists() and not force:
        raise ConfigError(f"{out}: already exists; pass --force to replace it, or --out another file")
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: --out: directory {out.parent} does not exist")
    draft = out.with_name(f".{out.name}.init-{os.getpid()}")
    draft.write_text(text, encoding="utf-8")
    try:
        load_target(draft)
        os.replace(draft, out)
    finally:
        draft.unlink(missing_ok=True)


# -- the command ------------------------------------------------------------------------------------

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def init_command(args: argparse.Namespace) -> int:
    """``chsm-checks init``: discover, ask where needed, write the target; one line on any problem."""
    from datetime import UTC, datetime

    from .arm.client import default_credential, loopback_sign_in
    from .arm.clouds import KNOWN_CLOUDS, is_loopback_url, listening, sandbox_cloud
    from .errors import ChsmError
    from .hsm.client_files import sandbox_crypto_user
    from .outcomes import EXIT_NOT_EVALUATED, EXIT_OK, EXIT_USAGE, fail

    if not _GUID.fullmatch(args.subscription):
        return fail(f"--subscription: {args.subscription!r} is not a subscription id (a GUID)")
    if args.arm_endpoint is not None and not is_loopback_url(args.arm_endpoint):
        return fail(
            f"--arm-endpoint: {args.arm_endpoint!r} is not on loopback (127.0.0.0/8, [::1] or localhost); "
            "use --cloud for Azure"
        )
    ca_file = Path(args.arm_ca_file) if args.arm_ca_file else None
    if ca_file is not None and not ca_file.is_file():
        return fail(f"{ca_file}: --arm-ca-file: not found")
    out = Path(args.out)
    if out.exists() and not args.force:  # said before any question is asked
        return fail(f"{out}: already exists; pass --force to replace it, or --out another file")
    if args.arm_endpoint is not None and not listening(args.arm_endpoint):
        return fail(
            f"--arm-endpoint: nothing listens on {args.arm_endpoint}; start it with: "
            "chsm-checks sandbox serve --state .sandbox"
        )
    if args.arm_endpoint is not None:
        endpoint = args.arm_endpoint.rstrip("/")
        cloud = sandbox_cloud(endpoint)
        credential = loopback_sign_in()
        addressing = Addressing(
            cloud=None,
            arm_endpoint=endpoint,
            arm_ca_file=str(ca_file) if ca_file else None,
            sandbox_crypto_user=sandbox_crypto_user(endpoint, ca_file),
        )
    else:
        cloud = KNOWN_CLOUDS[args.cloud]
        credential = default_credential(cloud)
        addressing = Addressing(cloud=args.cloud)
    wanted = Wanted(
        subscription=args.subscription,
        resource_group=args.resource_group,
        source=args.source,
        destination=args.destination,
        identity=args.identity,
        storage_account=args.storage_account,
        container=args.container,
        private_endpoint=args.private_endpoint,
    )
    at_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        with ArmClient(cloud, credential=credential, read_only=True, ca_file=ca_file) as client:
            draft = Discovery(client, wanted, ask_at_terminal() if at_terminal else None).draft()
        text = render(draft, addressing, name=args.name, today=datetime.now(UTC).date().isoformat())
        write_target(out, text, force=args.force)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    except (EOFError, KeyboardInterrupt):
        return fail("init: stopped before every choice was made; nothing written", EXIT_USAGE)
    except ChsmError as exc:  # ARM could not be read: nothing can be discovered
        return fail(f"init: {exc}", EXIT_NOT_EVALUATED)
    print(
        f"chsm-checks: wrote {out}: source {draft.source.label}, destination {draft.destination.label}, "
        f"storage {draft.storage_account.label}/{draft.container}, identity {draft.identity.label}, "
        f"private endpoint {draft.private_endpoint.label}"
    )
    print(f"chsm-checks: audit it read-only with: chsm-checks run --mode live --target {out}")
    return EXIT_OK
