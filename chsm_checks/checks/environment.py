"""The environment a scenario checks, read from ARM on first use and kept for the scenario.

Fetching lives here, checking elsewhere. A read gives an ``Observed``: the snapshot, "does not
exist" (a 404: a finding in its own right), or "could not read" (any other failure: an error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..arm import resources
from ..arm.client import ArmClient
from ..arm.errors import ArmError
from ..arm.snapshots import (
    ActivityEvent,
    BlobServiceSnapshot,
    ClusterSnapshot,
    ContainerSnapshot,
    DiagnosticCategory,
    DiagnosticSetting,
    IdentitySnapshot,
    ManagementLock,
    PrivateEndpointSnapshot,
    RoleAssignment,
    RoleDefinition,
    StorageAccountSnapshot,
)
from .observed import Observed

if TYPE_CHECKING:
    from ..target import ProtectionSettings

T = TypeVar("T")
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFound",
        "NotFound",
        "ResourceGroupNotFound",
        "ContainerNotFound",
        "ParentResourceNotFound",
        "RoleDefinitionDoesNotExist",
    }
)


def observe(resource_id: str, fetch: Callable[[], T]) -> Observed[T]:
    """Read one resource: its snapshot, "does not exist" on a 404, "could not read" otherwise."""
    try:
        return Observed.found(resource_id, fetch())
    except ArmError as exc:
        if exc.status == 404 and exc.code in NOT_FOUND_CODES:
            return Observed.absent(resource_id)
        return Observed.unreadable(resource_id, str(exc))


class Scope(Protocol):
    """The resources a set of checks is about: a target file's, or one discovered fleet member's.

    An id the scope cannot tell (a fleet cluster without its backup tags and no mapping) raises
    ``Unresolved`` when asked for, and the check that needed it reports an error.
    """

    @property
    def source_id(self) -> str: ...
    @property
    def destination_id(self) -> str: ...
    @property
    def storage_account_id(self) -> str: ...
    @property
    def container_id(self) -> str: ...
    @property
    def private_endpoint_id(self) -> str: ...
    @property
    def virtual_network_id(self) -> str: ...
    @property
    def container_uri(self) -> str: ...
    @property
    def protection(self) -> ProtectionSettings: ...


class Unresolved(Exception):
    """A scope cannot name a resource a check needs: that check cannot be evaluated."""

    def __init__(self, resource_id: str, message: str) -> None:
        super().__init__(message)
        self.resource_id = resource_id


# How far back the activity log is read: it keeps 90 days, and a start older than that is refused;
# a day less leaves room for a clock a little ahead of Azure's.
ACTIVITY_LOOKBACK = timedelta(days=89)


def role_assignments_key(scope: str, principal_id: str) -> str:
    """Where a run's cache keeps the assignments to ``principal_id`` at, above and below ``scope``."""
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments?principal={principal_id}"


class SnapshotCache:
    """A run's snapshots: each ARM resource is read at most once per run, whoever asks, from any thread."""

    def __init__(self) -> None:
        self._values: dict[str, Observed[Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.reads = 0

    def get_or_read(self, resource_id: str, fetch: Callable[[], T]) -> Observed[T]:
        key = resource_id.lower()
        with self._lock:
            if key in self._values:
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # concurrent askers of the same resource wait for the one read
            if key not in self._values:
                observed = self._observe(resource_id, fetch)
                with self._lock:
                    self._values[key] = observed
                    self.reads += 1
            return self._values[key]

    def peek(self, resource_id: str) -> Observed[Any] | None:
        """What was read for ``resource_id``, if it was."""
        with self._lock:
            return self._values.get(resource_id.lower())

    def put(self, resource_id: str, observed: Observed[Any]) -> None:
        """Keep a snapshot read some other way (a list that returned whole resources)."""
        with self._lock:
            self._values.setdefault(resource_id.lower(), observed)

    def _observe(self, resource_id: str, fetch: Callable[[], T]) -> Observed[T]:
        return observe(resource_id, fetch)


class Environment:
    """Lazy reads of the resources a scope names: per scenario, or through a run's shared cache."""

    def __init__(self, arm: ArmClient, scope: Scope, shared: SnapshotCache | None = None) -> None:
        self.arm = arm
        self.scope = scope
        self._cache: dict[str, Observed[Any]] = {}
        self._shared = shared

    def _read(self, resource_id: str, fetch: Callable[[], T]) -> Observed[T]:
        if self._shared is not None:
            return self._shared.get_or_read(resource_id, fetch)
        key = resource_id.lower()
        if key not in self._cache:
            self._cache[key] = observe(resource_id, fetch)
        return self._cache[key]

    def cluster(self, role: str) -> Observed[ClusterSnapshot]:
        """``role`` is ``source`` or ``destination``."""
        cluster_id = self.scope.source_id if role == "source" else self.scope.destination_id
        return self._read(cluster_id, lambda: resources.get_cluster(self.arm, cluster_id))

    def identity(self, identity_id: str) -> Observed[IdentitySnapshot]:
        return self._read(identity_id, lambda: resources.get_identity(self.arm, identity_id))

    def storage_account(self) -> Observed[StorageAccountSnapshot]:
        account_id = self.scope.storage_account_id
        return self._read(account_id, lambda: resources.get_storage_account(self.arm, account_id))

    def blob_service(self) -> Observed[BlobServiceSnapshot]:
        """The backup account's ``blobServices/default``: its soft delete and versioning."""
        service_id = f"{self.scope.storage_account_id}/blobServices/default"
        return self._read(service_id, lambda: resources.get_blob_service(self.arm, service_id))

    def container(self) -> Observed[ContainerSnapshot]:
        container_id = self.scope.container_id
        return self._read(container_id, lambda: resources.get_container(self.arm, container_id))

    def private_endpoint(self) -> Observed[PrivateEndpointSnapshot]:
        return self.endpoint(self.scope.private_endpoint_id)

    def endpoint(self, endpoint_id: str) -> Observed[PrivateEndpointSnapshot]:
        """A private endpoint by its id (the storage account's, or one a cluster names)."""
        return self._read(endpoint_id, lambda: resources.get_private_endpoint(self.arm, endpoint_id))

    def diagnostic_settings(self, resource_id: str) -> Observed[list[DiagnosticSetting]]:
        return self._read(
            f"{resource_id}/providers/Microsoft.Insights/diagnosticSettings",
            lambda: resources.list_diagnostic_settings(self.arm, resource_id),
        )

    def diagnostic_categories(self, resource_id: str) -> Observed[list[DiagnosticCategory]]:
        return self._read(
            f"{resource_id}/providers/Microsoft.Insights/diagnosticSettingsCategories",
            lambda: resources.list_diagnostic_categories(self.arm, resource_id),
        )

    def activity(self, resource_id: str) -> Observed[list[ActivityEvent]]:
        """The activity log's events for one resource over the :data:`ACTIVITY_LOOKBACK` before the
        client's "now" (its ``as_of``: the run's, or the recording's in a replay)."""
        end = self.arm.as_of
        return self._read(
            f"{resource_id}/activity",
            lambda: resources.list_activity(self.arm, resource_id, end - ACTIVITY_LOOKBACK, end),
        )

    def locks(self, subscription_id: str) -> Observed[list[ManagementLock]]:
        """Every management lock of a subscription, read once for all the resources in it."""
        return self._read(
            f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/locks",
            lambda: resources.list_locks(self.arm, subscription_id),
        )

    def role_assignments(self, principal_id: str) -> Observed[list[RoleAssignment]]:
        """Assignments to ``principal_id`` at, above and below the storage account."""
        scope = self.scope.storage_account_id
        return self._read(
            role_assignments_key(scope, principal_id),
            lambda: resources.list_role_assignments(self.arm, scope, principal_id),
        )

    def role_definition(self, role_definition_id: str) -> Observed[RoleDefinition]:
        """The role definition an assignment names."""
        return self._read(
            role_definition_id, lambda: resources.get_role_definition(self.arm, role_definition_id)
        )
