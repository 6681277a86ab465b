@fleet
Feature: Every Cloud HSM cluster of a fleet is ready to be backed up
  A fleet target names subscriptions (or every one the identity can list) and filters by resource
  group and tag. Each cluster discovered there is checked on its own, as its own test, against the
  catalogue's read-only checks; the checks that belong to a restore drill (an Active source, a
  NotActivated destination that is not the source) are the backup/restore target's.

  Each cluster's backup storage account, container, blob private endpoint and virtual network come
  from a [[fleet.backup]] mapping of the target file, else from the cluster's chsm-backup-* tags.
  A cluster that names none cannot be judged on them: those checks report an error, never a pass.

  @nist-ac-2 @nist-ac-3 @nist-ac-6 @nist-au-2 @nist-au-12 @nist-cm-5 @nist-cm-6 @nist-cp-6 @nist-cp-6-1 @nist-cp-9 @nist-cp-9-8
  @nist-ia-5 @nist-ia-5-7 @nist-sc-13 @nist-sc-7 @nist-sc-7-5 @nist-sc-8 @nist-sc-8-1 @nist-si-7
  @cis-9.2.1 @cis-9.2.2 @cis-9.2.3 @cis-9.3.1.3 @cis-9.3.2.1 @cis-9.3.2.2 @cis-9.3.2.3 @cis-9.3.4
  @cis-9.3.6 @cis-9.3.7 @cis-9.3.8 @cis-9.3.9 @cis-9.3.11
  @mcsb-br-1 @mcsb-br-2 @mcsb-br-3 @mcsb-dp-3 @mcsb-dp-8 @mcsb-im-1 @mcsb-im-3 @mcsb-im-8 @mcsb-lt-3 @mcsb-ns-2 @mcsb-pa-7
  @severity-critical @severity-high @severity-medium @severity-low
  Scenario: A discovered cluster meets every read-only backup check
    Given a cluster discovered in the fleet
    Then these checks hold for the cluster:
      | check                            |
      | identity.single-user-assigned    |
      | identity.resolvable              |
      | clusters.provisioned             |
      | clusters.sku                     |
      | clusters.private                 |
      | storage.shared-key-disabled      |
      | storage.private-endpoint         |
      | storage.public-network           |
      | storage.https-only               |
      | storage.minimum-tls              |
      | storage.blob-anonymous-access    |
      | storage.cross-tenant-replication |
      | storage.container-private        |
      | storage.blob-soft-delete         |
      | storage.container-soft-delete    |
      | storage.versioning               |
      | storage.immutability             |
      | storage.geo-redundant            |
      | locks.delete-protected           |
      | logging.cluster-audit            |
      | logging.blob-access              |
      | backup.rpo                       |
      | access.blob-data-contributor     |
      | access.least-privilege           |
      | requests.no-sas                  |
