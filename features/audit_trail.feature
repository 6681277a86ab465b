@catalogue
Feature: What happens to the clusters and the backups is written down somewhere it can be read later
  Azure keeps a resource's logs only while a diagnostic setting sends them to a Log Analytics
  workspace, a storage account or an event hub. An auditor asks that each cluster's audit logs
  (who did what on its HSM partitions) and the backup account's blob reads, writes and deletes are
  kept. Which log categories a resource offers, and the category groups they belong to, are read
  from the resource itself; a setting that names a category, or a group holding it, keeps it only
  when it is enabled and the setting has a destination.

  Background:
    Given the target's environment as ARM reports it

  @nist-au-2 @nist-au-12 @mcsb-lt-3 @severity-medium
  Scenario: Each cluster's audit logs are kept
    Then the "logging.cluster-audit" check holds for each cluster

  @nist-au-2 @nist-au-12 @mcsb-lt-3 @severity-medium
  Scenario: Reads, writes and deletes of the backups are kept
    Then the "logging.blob-access" check holds for the blob service
