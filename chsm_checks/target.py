"""The target file: what a run checks, read from TOML and validated at load.

A bad file fails with one line naming the file and the field (``targets/x.toml: source.cluster:
...``). Secrets never live here: the HSM password and the pseudonym key are named by environment
variables; the pseudonym key's is read when the target is loaded, so that a run missing it stops
before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .arm.clouds import KNOWN_CLOUDS, Cloud, is_loopback_url, sandbox_cloud
from .arm.trust import ca_file_problem
from .config_files import StrictModel, read_toml, validated_data
from .errors import ConfigError
from .pseudonyms import PseudonymKey
from .url_redaction import url_for_message

_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")

ResourceGroup = Annotated[str, Field(pattern=r"^[-\w.()]{0,89}[-\w()]$")]
ClusterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{3,23}$")]
AccountName = Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")]
ContainerName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
ResourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]


class ClusterRef(StrictModel):
    """A Cloud HSM cluster by resource group and name."""

    resource_group: ResourceGroup
    cluster: ClusterName


class StorageRef(StrictModel):
    """The storage account and blob container that hold backups."""

    resource_group: ResourceGroup
    account: AccountName
    container: ContainerName


class NamedResource(StrictModel):
    """Any other resource by resource group and name."""

    resource_group: ResourceGroup
    name: ResourceName


class PrivateEndpointRef(StrictModel):
    """The storage account's blob private endpoint, and the virtual network it must sit in."""

    resource_group: ResourceGroup
    name: ResourceName
    virtual_network: ResourceName
    virtual_network_resource_group: ResourceGroup | None = None


class ArmSettings(StrictModel):
    """How patient the ARM client is. Defaults follow what the live service needs."""

    poll_interval_seconds: float = Field(30.0, gt=0, le=600)
    operation_timeout_seconds: float = Field(3600.0, gt=0)
    request_timeout_seconds: float = Field(60.0, gt=0, le=600)
    max_attempts: int = Field(6, ge=1, le=20)
    retry_budget_seconds: float = Field(300.0, gt=0)


class NegativeResources(StrictModel):
    """Resources that exist only to prove rejections (optional; scenarios needing them are skipped)."""

    unwritable_container_uri: str | None = None

    @field_validator("unwritable_container_uri")
    @classmethod
    def _no_query(cls, value: str | None) -> str | None:
        if value is not None:
            _check_container_uri(value)
        return value


_UTILITY_NAMES = {
    "mgmt_util": ("azcloudhsm_mgmt_util", "azcloudhsm_mgmt_util.exe"),
    "util": ("azcloudhsm_util", "azcloudhsm_util.exe"),
}


# ``[hsm] client = "sandbox"``: the utilities and configuration of the sandbox the target addresses,
# named under this root (the sandbox's state directory, which the sandbox itself says at run time).
SANDBOX_CLIENT_ROOT = "<sandbox>"
_SANDBOX_CLIENT_FILES = {
    "mgmt_util": f"{SANDBOX_CLIENT_ROOT}/hsm-client/bin/azcloudhsm_mgmt_util",
    "util": f"{SANDBOX_CLIENT_ROOT}/hsm-client/bin/azcloudhsm_util",
    "resource_cfg": [f"{SANDBOX_CLIENT_ROOT}/hsm-client/bin/azcloudhsm_resource.cfg"],
}


class HsmSettings(StrictModel):
    """Where the Cloud HSM utilities live, which crypto user logs in, and how patient to be.

    Linux layouts of both SDK generations (``/opt/azurecloudhsm/bin/`` and
    ``/usr/local/bin/AzureCloudHSM-ClientSDK-<ver>/``) and Windows ``.exe`` names are accepted.
    ``client = "sandbox"`` takes the HSM client of the sandbox the target addresses, wherever its
    ``--state`` is, instead of naming the three paths (they are then named ``<sandbox>/...``).
    The password comes from the environment variable ``password_env`` (or a prompt), never from here.
    """

    client: Literal["sandbox"] | None = None
    mgmt_util: str = "/opt/azurecloudhsm/bin/azcloudhsm_mgmt_util"
    util: str = "/opt/azurecloudhsm/bin/azcloudhsm_util"
    resource_cfg: list[str] = Field(
        default_factory=lambda: ["/opt/azurecloudhsm/bin/azcloudhsm_resource.cfg"], min_length=1, max_length=4
    )
    user: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    password_env: str | None = Field(None, pattern=_ENV_NAME)
    manage_resource_cfg: bool = False
    restart_client_command: list[str] | None = Field(None, min_length=1)
    startup_timeout_seconds: float = Field(60.0, gt=0, le=600)
    command_timeout_seconds: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _sandbox_client_files(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("client") != "sandbox":
            return data
        if given := [name for name in _SANDBOX_CLIENT_FILES if name in data]:
            raise ValueError(
                f'client = "sandbox" takes the utilities from the sandbox; leave out {", ".join(given)}'
            )
        return {**data, **_SANDBOX_CLIENT_FILES}

    @property
    def from_sandbox(self) -> bool:
        """Whether the client's files are the sandbox's, named under ``<sandbox>/``."""
        return self.client == "sandbox"

    @field_validator("mgmt_util", "util")
    @classmethod
    def _utility_name(cls, value: str, info: Any) -> str:
        names = _UTILITY_NAMES[info.field_name]
        if value.replace("\\", "/").rsplit("/", 1)[-1] not in names:
            raise ValueError(f"{value!r} does not name {' or '.join(names)}")
        return value


class ProtectionSettings(StrictModel):
    """``[protection]``: what the target asks of its backup data beyond the tutorial's rules.

    The defaults are what a backup auditor asks of any account: blobs soft-deleted for a week, an
    immutability policy advised (an absent one is a low-severity finding), no alternate site asked for,
    a backup at least daily (an RPO of 24 hours), a restored destination validated within four hours
    of the restore request (an RTO of 240 minutes).
    """

    # Blob soft delete must keep deleted backups at least this long (Azure allows 1 to 365 days).
    min_soft_delete_days: int = Field(7, ge=1, le=365, strict=True)
    # Whether the backup container must have a time-based or version-level immutability policy.
    require_immutability: bool = Field(False, strict=True)
    # Whether the backup account must keep a copy in a second region (GRS, RA-GRS, GZRS, RA-GZRS).
    require_alternate_site: bool = Field(False, strict=True)
    # The recovery point objective: the source's latest successful backup may be at most this old
    # (whole hours; the activity log the check reads keeps 90 days).
    rpo_hours: int = Field(24, ge=1, le=24 * 89, strict=True)
    # The recovery time objective: the restore drill's destination must read Active, and pass its
    # restore validation, within this many minutes of the restore request (whole minutes, up to a week).
    rto_minutes: int = Field(240, ge=1, le=7 * 24 * 60, strict=True)


DEFAULT_PROTECTION = ProtectionSettings()


def checked_arm_endpoint(value: str) -> str:
    """A sandbox's ARM endpoint, as a target's ``arm_endpoint`` or ``--arm-endpoint`` gives it: a bare
    http(s) origin on loopback (127.0.0.0/8, ::1, localhost), so that nothing unauthenticated leaves
    the machine; ``ValueError`` otherwise. The messages repeat no userinfo, query or fragment: they
    may hold a secret."""
    shown = url_for_message(value)
    if "\\" in value:
        raise ValueError("contains a backslash, which URL parsers read differently")
    if "@" in value:
        raise ValueError(
            "carries userinfo (a name or password before '@'); give a bare origin such as http://127.0.0.1:8765"
        )
    if any(not 0x21 <= ord(c) <= 0x7E for c in value):
        raise ValueError("contains whitespace, control or non-ASCII characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown!r} is not an http(s) URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"{shown!r} must be a bare origin such as http://127.0.0.1:8765")
    if not is_loopback_url(value):
        raise ValueError(
            f"{shown!r} is not on loopback (127.0.0.0/8, [::1] or localhost); use 'cloud' for Azure"
        )
    return value.rstrip("/")


class _CloudFile(StrictModel):
    """What every target file says: its name, where ARM is, how patient to be, whose waivers apply."""

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    description: str = ""
    cloud: str | None = None
    arm_endpoint: str | None = None
    # A CA the ARM client trusts beside its usual roots: the sandbox's <state>/tls/ca.pem, or the CA
    # of a TLS-inspecting proxy in front of Azure. Relative to the current directory, like [hsm]'s.
    arm_ca_file: str | None = Field(None, min_length=1)
    waivers: str | None = None
    # LIVE evidence names the identity that ran the checks by a keyed pseudonym of its object id: under
    # the key in this environment variable, or under one the run generates and discards.
    pseudonym_key_env: str | None = Field(None, pattern=_ENV_NAME)
    # Only this puts the object and tenant ids of that identity in clear into the evidence (a TOML
    # boolean: nothing else turns it on).
    identities_in_clear: bool = Field(False, strict=True)
    # The unkeyed switch this replaces: refused, saying what to write instead.
    pseudonymise_identity: bool | None = None
    arm: ArmSettings = ArmSettings()
    protection: ProtectionSettings = DEFAULT_PROTECTION

    @field_validator("identities_in_clear")
    @classmethod
    def _clear_or_keyed(cls, value: bool, info: Any) -> bool:
        if value and info.data.get("pseudonym_key_env"):
            raise ValueError(
                "ids in clear need no pseudonym key, and pseudonym_key_env names one: set one of the two"
            )
        return value

    @field_validator("pseudonymise_identity")
    @classmethod
    def _replaced(cls, value: bool | None) -> None:
        if value is not None:
            raise ValueError(
                "no longer read: identities are pseudonymised by default, under a key the run generates "
                '(or the one in pseudonym_key_env = "NAME"); to name them in clear, write '
                "identities_in_clear = true"
            )
        return None

    @field_validator("cloud")
    @classmethod
    def _known_cloud(cls, value: str | None) -> str | None:
        if value is not None and value not in KNOWN_CLOUDS:
            known = ", ".join(KNOWN_CLOUDS)
            raise ValueError(f"unknown cloud {value!r}; expected one of {known} (or arm_endpoint)")
        return value

    @field_validator("arm_endpoint")
    @classmethod
    def _loopback_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else checked_arm_endpoint(value)

    @field_validator("arm_ca_file")
    @classmethod
    def _usable_ca_file(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        endpoint = info.data.get("arm_endpoint")
        if endpoint is not None and urlsplit(endpoint).scheme != "https":
            raise ValueError(
                f"{url_for_message(endpoint)!r} is plain http, where no certificate is checked; "
                "serve the sandbox with --tls and give its https:// URL"
            )
        if problem := ca_file_problem(Path(value)):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_cloud(self) -> _CloudFile:
        if (self.cloud is None) == (self.arm_endpoint is None):
            raise ValueError("set exactly one of 'cloud' (Azure) or 'arm_endpoint' (the sandbox)")
        return self


class TargetFile(_CloudFile):
    """The validated content of a target file for one backup/restore pair."""

    subscription_id: str = Field(pattern=_GUID)
    source: ClusterRef
    destination: ClusterRef
    storage: StorageRef
    identity: NamedResource
    private_endpoint: PrivateEndpointRef
    negative: NegativeResources = NegativeResources()
    hsm: HsmSettings | None = None


_ARM_ID = r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/[^/]+/[^/]+/[^/]+$"
Subscription = Annotated[str, Field(pattern=_GUID)]


class FleetBackupMapping(StrictModel):
    """Which backup resources the clusters matching ``clusters`` use, when their tags do not say.

    ``clusters`` is a shell-style pattern (``*``, ``?``, ``[...]``) matched, ignoring case, against
    the cluster's name or its ARM id. A field left out here comes from the cluster's tag.
    """

    clusters: str = Field(min_length=1)
    storage_account: str | None = Field(None, pattern=_ARM_ID)
    container: ContainerName | None = None
    private_endpoint: str | None = Field(None, pattern=_ARM_ID)
    virtual_network: str | None = Field(None, pattern=_ARM_ID)


class FleetSettings(StrictModel):
    """Which clusters a fleet audit covers, and how hard it may read ARM."""

    subscriptions: Literal["all"] | Annotated[list[Subscription], Field(min_length=1)]
    resource_groups: list[ResourceGroup] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    # ARM's read bucket is 250 per subscription, refilled at 25/s: 16 readers keep well inside it.
    concurrency: int = Field(16, ge=1, le=64)
    # "resource-graph" (the default): discovery and the snapshots Resource Graph holds come from its
    # queries, the rest from ARM reads; "arm": everything from ARM reads (chsm_checks/fleet/graph_reader.py).
    reader: Literal["arm", "resource-graph"] = "resource-graph"
    backup: list[FleetBackupMapping] = Field(default_factory=list)


class FleetTargetFile(_CloudFile):
    """The validated content of a fleet target file: many clusters, read-only checks."""

    fleet: FleetSettings


class _Loaded:
    """What every loaded target has: its file, the cloud it addresses, its name and kind."""

    spec: _CloudFile

    def __init__(self, path: Path, spec: _CloudFile) -> None:
        self.path = path
        self.cloud: Cloud = (
            KNOWN_CLOUDS[spec.cloud] if spec.cloud is not None else sandbox_cloud(spec.arm_endpoint or "")
        )
        # The key the target names for pseudonyms (``None``: the run generates one).
        self.pseudonym_key: PseudonymKey | None = None
        if spec.pseudonym_key_env is not None:
            try:
                self.pseudonym_key = PseudonymKey.from_environment(spec.pseudonym_key_env)
            except ValueError as exc:
                raise ConfigError(f"{path}: pseudonym_key_env: {exc}") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, {self.path.as_posix()!r})"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> Literal["sandbox", "azure"]:
        """``sandbox`` for a loopback endpoint, ``azure`` for a real cloud."""
        return "sandbox" if self.cloud.is_loopback else "azure"

    @property
    def arm_ca_file(self) -> Path | None:
        """The CA the ARM client trusts beside its usual roots, if the target names one."""
        return Path(self.spec.arm_ca_file) if self.spec.arm_ca_file else None

    @property
    def waivers_path(self) -> Path | None:
        """The waiver file the target names, relative to the target file."""
        return (self.path.parent / self.spec.waivers) if self.spec.waivers else None


class FleetTarget(_Loaded):
    """A loaded fleet target: every cluster discovery finds, each checked on its own."""

    def __init__(self, path: Path, spec: FleetTargetFile) -> None:
        super().__init__(path, spec)
        self.spec: FleetTargetFile = spec

    @property
    def fleet(self) -> FleetSettings:
        return self.spec.fleet


class Target(_Loaded):
    """A loaded target: the file's content plus everything derived from it."""

    def __init__(self, path: Path, spec: TargetFile) -> None:
        super().__init__(path, spec)
        self.spec: TargetFile = spec

    @property
    def hsm_settings(self) -> HsmSettings:
        """The ``[hsm]`` section; a configuration error when the target has none."""
        if self.spec.hsm is None:
            raise ConfigError(f"{self.path}: hsm: the target names no HSM utilities")
        return self.spec.hsm

    @property
    def subscription_id(self) -> str:
        return self.spec.subscription_id

    @property
    def protection(self) -> ProtectionSettings:
        return self.spec.protection

    def resource_id(self, resource_group: str, provider_type: str, name: str) -> str:
        """The ARM id of a resource in this target's subscription."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{resource_group}"
            f"/providers/{provider_type}/{name}"
        )

    def cluster_id(self, ref: ClusterRef) -> str:
        return self.resource_id(
            ref.resource_group, "Microsoft.HardwareSecurityModules/cloudHsmClusters", ref.cluster
        )

    @property
    def source_id(self) -> str:
        return self.cluster_id(self.spec.source)

    @property
    def destination_id(self) -> str:
        return self.cluster_id(self.spec.destination)

    @property
    def storage_account_id(self) -> str:
        s = self.spec.storage
        return self.resource_id(s.resource_group, "Microsoft.Storage/storageAccounts", s.account)

    @property
    def container_id(self) -> str:
        return f"{self.storage_account_id}/blobServices/default/containers/{self.spec.storage.container}"

    @property
    def identity_id(self) -> str:
        i = self.spec.identity
        return self.resource_id(i.resource_group, "Microsoft.ManagedIdentity/userAssignedIdentities", i.name)

    @property
    def private_endpoint_id(self) -> str:
        p = self.spec.private_endpoint
        return self.resource_id(p.resource_group, "Microsoft.Network/privateEndpoints", p.name)

    @property
    def virtual_network_id(self) -> str:
        """The virtual network the private endpoint's subnet must belong to."""
        p = self.spec.private_endpoint
        return self.resource_id(
            p.virtual_network_resource_group or p.resource_group,
            "Microsoft.Network/virtualNetworks",
            p.virtual_network,
        )

    @property
    def container_uri(self) -> str:
        """The blob container URI backups are written to: no query string, ever."""
        s = self.spec.storage
        return f"https://{s.account}.blob.{self.cloud.storage_suffix}/{s.container}"


def _check_container_uri(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"{value!r} is not an https blob container URI")
    if parts.query or parts.fragment:
        raise ValueError("carries a query string; SAS tokens are not supported for Cloud HSM backup")


def _same_cluster(a: ClusterRef, b: ClusterRef) -> bool:
    return (a.resource_group.lower(), a.cluster.lower()) == (b.resource_group.lower(), b.cluster.lower())


def is_fleet_target(path: str | Path) -> bool:
    """Whether the target file describes a fleet (it has a ``[fleet]`` table)."""
    return "fleet" in read_toml(Path(path), "target file")


_Spec = TypeVar("_Spec", TargetFile, FleetTargetFile)


def _target_file(model: type[_Spec], path: Path, arm_endpoint: str | None) -> _Spec:
    """The target file at ``path``, its ARM endpoint replaced by ``arm_endpoint`` when one is given
    (``--arm-endpoint``: the file's ``cloud`` or ``arm_endpoint`` is then not read)."""
    data = read_toml(path, "target file")
    if arm_endpoint is not None:
        data = {key: value for key, value in data.items() if key not in ("cloud", "arm_endpoint")}
        data["arm_endpoint"] = arm_endpoint
    return validated_data(model, path, data)


def load_fleet_target(path: str | Path, arm_endpoint: str | None = None) -> FleetTarget:
    """Read and validate a fleet target file; ``ConfigError`` with one line naming file and field."""
    p = Path(path)
    return FleetTarget(p, _target_file(FleetTargetFile, p, arm_endpoint))


def load_any_target(path: str | Path, arm_endpoint: str | None = None) -> Target | FleetTarget:
    """A fleet target when the file has ``[fleet]``, else a backup/restore target; with
    ``arm_endpoint``, addressing that ARM endpoint instead of the file's."""
    if is_fleet_target(path):
        return load_fleet_target(path, arm_endpoint)
    return load_target(path, arm_endpoint)


def load_target(path: str | Path, arm_endpoint: str | None = None) -> Target:
    """Read and validate a target file; raise ``ConfigError`` with one line naming file and field."""
    p = Path(path)
    spec = _target_file(TargetFile, p, arm_endpoint)
    if _same_cluster(spec.source, spec.destination):
        raise ConfigError(
            f"{p}: destination: names the source cluster; a restore into the source is unsupported"
        )
    if spec.hsm is not None and spec.hsm.from_sandbox and spec.arm_endpoint is None:
        raise ConfigError(
            f'{p}: hsm.client: "sandbox" needs a sandbox\'s arm_endpoint (or --arm-endpoint), not a cloud'
        )
    return Target(p, spec)
