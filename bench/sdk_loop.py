"""A fleet audit against the loop a user would write instead: Microsoft's management SDKs, one cluster after
another. Target: ``chsm-checks run`` (the ARM reader, the default concurrency) at least 10× faster than the
loop over a sandbox fleet of 200 clusters, 25 ms per ARM answer.

Run by hand from the checkout: ``.venv/bin/python bench/sdk_loop.py [--repeat N] [--clusters N]``. Starts
one sandbox over HTTPS (the SDKs' bearer-token policy refuses plain HTTP) with its state, the target file and
the reports in a temporary directory; nothing is written to the checkout except ``bench/RESULTS.md``.

The loop is written as a user would write it with the SDKs of the ``[test]`` extra
(azure-mgmt-hardwaresecuritymodules, -storage, -msi, -network, -authorization, -monitor), each client built
with a credential, a subscription, ``base_url`` and ``connection_verify`` and nothing else. For each cluster
of each subscription it reads what chsm-checks reads (the identity, the storage account, its blob service and
backup container, the private endpoint, diagnostic settings and categories of the cluster and the blob
service, the cluster's activity log, the identity's role assignments and their role definitions, each
definition once) and judges a few of the same properties. It does not read management locks: their SDK
(azure-mgmt-resource) is not in the extra; chsm-checks reads them once per subscription.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.hardwaresecuritymodules import HardwareSecurityModulesMgmtClient
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.storage import StorageManagementClient
from fleet import (
    CONCURRENCY,
    LATENCY_MS,
    SUBSCRIPTIONS,
    Audit,
    Fleet,
    fleet_options,
    outcomes_verdict,
    run_audit,
)
from measure import (
    Samples,
    cached_bytecode,
    load_average,
    machine,
    ms,
    rotations,
    sandbox,
    table,
    write_section,
)

from chsm_checks.sandbox.fleet import TAG_CONTAINER, TAG_PRIVATE_ENDPOINT, TAG_STORAGE_ACCOUNT

CLUSTERS = 200  # SUBSCRIPTIONS and LATENCY_MS are bench/fleet.py's
TARGET = 10.0  # chsm-checks at least this many times faster than the loop
ACTIVITY_DAYS = 89


class Credential:
    """A ``TokenCredential`` for the sandbox, which takes any bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("sandbox-token", int(time.time()) + 3600)


def _parts(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of an ARM id."""
    parts = resource_id.strip("/").split("/")
    return parts[3], parts[-1]


@dataclass
class Loop:
    """One run of the SDK loop: its wall time, the clusters it judged and those it found wanting."""

    wall: float
    clusters: int
    failing: int


def sdk_loop(url: str, ca_file: str, subscriptions: list[str]) -> Loop:
    """The loop a user would write: every cluster of every subscription, one after another."""
    start = time.perf_counter()
    end = datetime.now(UTC)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    begin = end - timedelta(days=ACTIVITY_DAYS)
    window = f"eventTimestamp ge '{begin:{stamp}}' and eventTimestamp le '{end:{stamp}}'"
    definitions: dict[str, str] = {}
    clusters = failing = 0
    for subscription in subscriptions:
        options: dict[str, Any] = {
            "credential": Credential(),
            "subscription_id": subscription,
            "base_url": url,
            "connection_verify": ca_file,
        }
        hsm = HardwareSecurityModulesMgmtClient(**options)
        storage = StorageManagementClient(**options)
        msi = ManagedServiceIdentityClient(**options)
        network = NetworkManagementClient(**options)
        authorization = AuthorizationManagementClient(**options)
        monitor = MonitorManagementClient(**options)
        for cluster in hsm.cloud_hsm_clusters.list_by_subscription():
            tags = cluster.tags or {}
            if TAG_STORAGE_ACCOUNT not in tags:
                continue  # the sandbox's seeded pair, which the target file maps
            clusters += 1
            problems = []
            assigned = cluster.identity.user_assigned_identities if cluster.identity else None
            (identity_id,) = (assigned or {}).keys()
            identity = msi.user_assigned_identities.get(*_parts(identity_id))
            group, account_name = _parts(tags[TAG_STORAGE_ACCOUNT])
            account = storage.storage_accounts.get_properties(group, account_name)
            if account.allow_shared_key_access is not False:
                problems.append("shared key access")
            if account.public_network_access != "Disabled":
                problems.append("public network access")
            if not account.enable_https_traffic_only or account.minimum_tls_version != "TLS1_2":
                problems.append("transport")
            blob = storage.blob_services.get_service_properties(group, account_name)
            if not (blob.delete_retention_policy and blob.delete_retention_policy.enabled):
                problems.append("blob soft delete")
            if not blob.is_versioning_enabled:
                problems.append("versioning")
            container = storage.blob_containers.get(group, account_name, tags[TAG_CONTAINER])
            if container.public_access not in (None, "None"):
                problems.append("container access")
            endpoint = network.private_endpoints.get(*_parts(tags[TAG_PRIVATE_ENDPOINT]))
            connections = endpoint.private_link_service_connections or []
            if not any(c.private_link_service_connection_state.status == "Approved" for c in connections):
                problems.append("private endpoint")
            for resource_id in (cluster.id, f"{account.id}/blobServices/default"):
                if not list(monitor.diagnostic_settings.list(resource_id)):
                    problems.append(f"no diagnostic setting on {resource_id}")
                list(monitor.diagnostic_settings_category.list(resource_id))
            list(monitor.activity_logs.list(f"{window} and resourceUri eq '{cluster.id}'"))
            roles = []
            for assignment in authorization.role_assignments.list_for_scope(
                account.id, filter=f"principalId eq '{identity.principal_id}'"
            ):
                definition = assignment.role_definition_id
                if definition not in definitions:
                    definitions[definition] = authorization.role_definitions.get_by_id(definition).role_name
                roles.append(definitions[definition])
            if "Storage Blob Data Contributor" not in roles:
                problems.append("role")
            failing += bool(problems)
    return Loop(time.perf_counter() - start, clusters, failing)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each side (3)")
    parser.add_argument("--clusters", type=int, default=CLUSTERS, help=f"fleet clusters ({CLUSTERS})")
    parser.add_argument("--no-write", action="store_true", help="do not refresh bench/RESULTS.md")
    args = parser.parse_args()
    where = machine()
    before = load_average()
    print(f"machine: {where}")
    with tempfile.TemporaryDirectory(prefix="chsm-bench-") as tmp, cached_bytecode() as env:
        work = Path(tmp)
        options = (*fleet_options(args.clusters, LATENCY_MS, SUBSCRIPTIONS), "--tls")
        with sandbox(work / "state", options, env, who="sdk_loop") as box:
            assert box.ca_file is not None
            fleet = Fleet.read(box.url, verify=box.verify)
            subscriptions = list(fleet.subscriptions)
            loops: list[Loop] = []
            audits: list[Audit] = []
            sdk_loop(box.url, box.ca_file, subscriptions)  # warm-up, untimed
            for side in rotations(["loop", "chsm"], args.repeat):
                if side == "loop":
                    loops.append(sdk_loop(box.url, box.ca_file, subscriptions))
                    print(f"  SDK loop: {ms(loops[-1].wall)} ({loops[-1].clusters} clusters)", flush=True)
                else:
                    audit = run_audit(box, LATENCY_MS, CONCURRENCY, work, env, fleet, reader="arm")
                    audits.append(audit)
                    print(f"  chsm-checks run: {ms(audit.run.wall)}", flush=True)
    after = load_average()
    loop = Samples("SDK loop (sequential)", [run.wall for run in loops])
    chsm = Samples("chsm-checks run --mode live (ARM reader)", [a.run.wall for a in audits])
    speedup = loop.median / chsm.median
    verdicts = outcomes_verdict("chsm-checks run", {"chsm": audits})
    judged = {run.clusters for run in loops}
    failing = {run.failing for run in loops}
    audit_failing = {sum(n for outcome, n in a.outcomes.items() if outcome != "passed") for a in audits}
    met = speedup >= TARGET
    verdict = "met" if met else f"missed: {speedup:.1f}× against ≥ {TARGET:g}×"
    print(f"{loop.line()}\n{chsm.line()}\nspeed-up: {speedup:.1f}× (target ≥ {TARGET:g}×): {verdict}")
    if not args.no_write:
        rows = [["chsm-checks run / SDK loop, wall", f"≥ {TARGET:g}× faster", f"**{speedup:.1f}×**", verdict]]
        write_section(
            "sdk-loop",
            "## Against the SDK loop a user would write (`bench/sdk_loop.py`)\n\n"
            + f"{where}\n\n"
            + f"A sandbox fleet of {args.clusters} clusters (plus the 2 seeded ones) over {SUBSCRIPTIONS} "
            + f"subscriptions, 10% misconfigured, {LATENCY_MS} ms per ARM answer, over HTTPS. "
            + f"{args.repeat} interleaved runs of each side after one warm-up of the loop. "
            + f"Load average before {before}, after {after}.\n\n"
            + table(["measure", "target", "measured", "verdict"], rows)
            + "\n\n"
            + f"- {loop.line()}\n- {chsm.line()}\n"
            + f"- the loop judged {sorted(judged)} clusters and found {sorted(failing)} wanting; "
            + f"chsm-checks found {sorted(audit_failing)} not passed (its checks are many more)\n"
            + f"- {verdicts[0]}: {verdicts[2]} ({verdicts[3]})\n",
        )
        print("written to bench/RESULTS.md")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
