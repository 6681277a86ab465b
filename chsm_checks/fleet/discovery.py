"""Discovering a fleet: subscriptions the identity can list, their clusters, each one's backup resources.

A cluster names the resources it backs up to with tags (the convention the sandbox's fleets follow
and a team applies to its clusters):

| tag | value |
|---|---|
| ``chsm-backup-storage-account`` | the storage account's ARM id |
| ``chsm-backup-container`` | the blob container's name |
| ``chsm-backup-private-endpoint`` | the blob private endpoint's ARM id |
| ``chsm-backup-virtual-network`` | the ARM id of the virtual network the endpoint must sit in |

A cluster without them is still discovered; what it lacks is listed in ``problems`` so the checks
that need it can say so, instead of passing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..arm import versions
from ..arm.client import ArmClient
from ..arm.snapshots import ClusterSnapshot, id_segment

TAG_STORAGE_ACCOUNT = "chsm-backup-storage-account"
TAG_CONTAINER = "chsm-backup-container"
TAG_PRIVATE_ENDPOINT = "chsm-backup-private-endpoint"
TAG_VIRTUAL_NETWORK = "chsm-backup-virtual-network"
CONVENTION_TAGS = (TAG_STORAGE_ACCOUNT, TAG_CONTAINER, TAG_PRIVATE_ENDPOINT, TAG_VIRTUAL_NETWORK)


@dataclass(frozen=True)
class FleetMember:
    """One discovered cluster and what its tags say it backs up to."""

    cluster: ClusterSnapshot
    subscription_id: str
    resource_group: str
    tags: Mapping[str, str]
    arm: Mapping[str, Any]  # the cluster as the listing returned it: its evidence

    @classmethod
    def from_arm(cls, subscription_id: str, item: Mapping[str, Any]) -> FleetMember:
        """A member from one item of a cluster listing."""
        cluster = ClusterSnapshot.from_arm(item)
        raw_tags = item.get("tags")
        tags = {str(k): str(v) for k, v in raw_tags.items()} if isinstance(raw_tags, Mapping) else {}
        return cls(cluster, subscription_id, id_segment(cluster.id, "resourceGroups"), tags, item)

    @property
    def storage_account_id(self) -> str | None:
        return self.tags.get(TAG_STORAGE_ACCOUNT)

    @property
    def container(self) -> str | None:
        return self.tags.get(TAG_CONTAINER)

    @property
    def private_endpoint_id(self) -> str | None:
        return self.tags.get(TAG_PRIVATE_ENDPOINT)

    @property
    def virtual_network_id(self) -> str | None:
        return self.tags.get(TAG_VIRTUAL_NETWORK)

    @property
    def problems(self) -> tuple[str, ...]:
        """The convention tags this cluster lacks."""
        return tuple(
            f"cluster {self.cluster.name} has no {tag!r} tag"
            for tag in CONVENTION_TAGS
            if not self.tags.get(tag)
        )


def list_subscriptions(client: ArmClient) -> list[str]:
    """Every enabled subscription the identity can list (all pages)."""
    return [
        str(item["subscriptionId"])
        for item in client.list_pages("/subscriptions", versions.SUBSCRIPTIONS)
        if item.get("subscriptionId") and item.get("state", "Enabled") == "Enabled"
    ]


def discover(
    client: ArmClient,
    subscriptions: Iterable[str],
    *,
    resource_groups: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    on_listed: Callable[[int], None] | None = None,
) -> list[FleetMember]:
    """Every Cloud HSM cluster in ``subscriptions`` (all pages), filtered by resource group and tags;
    ``on_listed`` hears how many clusters matched so far after each subscription is listed.

    Resource groups compare case-insensitively, as ARM does; a tag filter needs every pair to match.
    """
    wanted_groups = {g.lower() for g in resource_groups}
    members = []
    for subscription in subscriptions:
        path = f"/subscriptions/{subscription}/providers/Microsoft.HardwareSecurityModules/cloudHsmClusters"
        for item in client.list_pages(path, versions.CLUSTERS):
            member = FleetMember.from_arm(subscription, item)
            if wanted_groups and member.resource_group.lower() not in wanted_groups:
                continue
            if tags and any(member.tags.get(k) != v for k, v in tags.items()):
                continue
            members.append(member)
        if on_listed is not None:
            on_listed(len(members))
    return members
