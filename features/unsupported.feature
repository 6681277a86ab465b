@catalogue
Feature: No configuration the tutorial calls unsupported is in place
  The Cloud HSM tutorial lists configurations that fail, some of them leaving the destination
  nonfunctional. Each rule below is one of them; its scenario checks that the target is clear of it.

  Background:
    Given the target's environment as ARM reports it

  Rule: A restore into the source cluster is unsupported

    @nist-cp-10 @mcsb-br-4 @severity-critical
    Scenario: The destination is a different cluster from the source
      Then the "clusters.distinct" check holds for the destination

  Rule: A restore into a cluster that is already activated is unsupported

    @nist-cp-10 @mcsb-br-4 @severity-critical
    Scenario: The destination has not been activated
      Then the "clusters.destination-not-activated" check holds for the destination

  Rule: Backup and restore through SAS tokens are unsupported

    @nist-ia-5 @nist-ia-5-7 @mcsb-im-8 @severity-critical
    Scenario: The container URI the harness sends carries no SAS token
      Then the "requests.no-sas" check holds for the container URI

  Rule: The backup storage must not be reachable from the public internet

    @nist-sc-7 @nist-sc-7-5 @nist-cm-6 @cis-9.3.2.2 @cis-9.3.2.3 @mcsb-ns-2 @severity-high
    Scenario: Public network access is disabled, or denied by default with only the expected network allowed
      Then the "storage.public-network" check holds for the storage account

  Rule: Shared key access to the backup storage is unsupported

    @nist-ac-3 @nist-ia-5 @nist-cp-9-8 @nist-cm-6 @cis-9.3.1.3 @mcsb-im-1 @severity-critical
    Scenario: The storage account refuses shared key access
      Then the "storage.shared-key-disabled" check holds for the storage account

  Rule: A cluster identity without Storage Blob Data Contributor cannot back up or restore

    @nist-ac-3 @mcsb-br-2 @severity-critical
    Scenario: Each cluster identity holds Storage Blob Data Contributor on the account
      Then the "access.blob-data-contributor" check holds for each identity the clusters use
