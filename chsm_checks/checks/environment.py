"""The environment a scenario checks, read from ARM on first use and kept for the scenario.

Fetching lives here, checking elsewhere. A read gives an ``Observed``: the snapshot, "does not
exist" (a 404: a finding in its own right), or "could not read" (any other failure: an error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..arm import resources
from ..arm.client import ArmClient
from ..arm.errors import ArmError
from ..arm.snapshots import (
    ClusterSnapshot,
    ContainerSnapshot,
    IdentitySnapshot,
    PrivateEndpointSnapshot,
    RoleAssignment,
    StorageAccountSnapshot,
)
from ..target import Target
from .observed import Observed

T = TypeVar("T")
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFound", "NotFound", "ResourceGroupNotFound", "ContainerNotFound", "ParentResourceNotFound"}
)


class Environment:
    """Lazy, per-scenario reads of the resources the target names."""

    def __init__(self, arm: ArmClient, target: Target) -> None:
        self.arm = arm
        self.target = target
        self._cache: dict[str, Observed[Any]] = {}

    def _read(self, resource_id: str, fetch: Callable[[], T]) -> Observed[T]:
        key = resource_id.lower()
        if key not in self._cache:
            try:
                self._cache[key] = Observed.found(resource_id, fetch())
            except ArmError as exc:
                if exc.status == 404 and exc.code in NOT_FOUND_CODES:
                    self._cache[key] = Observed.absent(resource_id)
                else:
                    self._cache[key] = Observed.unreadable(resource_id, str(exc))
        return self._cache[key]

    def cluster(self, role: str) -> Observed[ClusterSnapshot]:
        """``role`` is ``source`` or ``destination``."""
        cluster_id = self.target.source_id if role == "source" else self.target.destination_id
        return self._read(cluster_id, lambda: resources.get_cluster(self.arm, cluster_id))

    def identity(self, identity_id: str) -> Observed[IdentitySnapshot]:
        return self._read(identity_id, lambda: resources.get_identity(self.arm, identity_id))

    def storage_account(self) -> Observed[StorageAccountSnapshot]:
        account_id = self.target.storage_account_id
        return self._read(account_id, lambda: resources.get_storage_account(self.arm, account_id))

    def container(self) -> Observed[ContainerSnapshot]:
        container_id = self.target.container_id
        return self._read(container_id, lambda: resources.get_container(self.arm, container_id))

    def private_endpoint(self) -> Observed[PrivateEndpointSnapshot]:
        endpoint_id = self.target.private_endpoint_id
        return self._read(endpoint_id, lambda: resources.get_private_endpoint(self.arm, endpoint_id))

    def role_assignments(self, principal_id: str) -> Observed[list[RoleAssignment]]:
        """Assignments to ``principal_id`` at, above and below the storage account."""
        scope = self.target.storage_account_id
        return self._read(
            f"{scope}/providers/Microsoft.Authorization/roleAssignments?principal={principal_id}",
            lambda: resources.list_role_assignments(self.arm, scope, principal_id),
        )
