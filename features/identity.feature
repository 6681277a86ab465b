@catalogue
Feature: Each cluster backs up and restores through one user-assigned managed identity
  The clusters reach the backup storage account as a user-assigned managed identity: one per
  cluster (source and destination may share it). Its principal id is what role assignments name,
  and it is read from the identity resource itself, because the cluster's copy may be null.

  Background:
    Given the target's environment as ARM reports it

  @nist-ac-2 @nist-cm-6 @mcsb-im-3 @severity-high
  Scenario: Each cluster has exactly one user-assigned identity
    Then the "identity.single-user-assigned" check holds for each cluster

  @nist-ac-2 @mcsb-im-3 @severity-high
  Scenario: Each cluster's identity exists and resolves to its principal
    Then the "identity.resolvable" check holds for each identity the clusters use
