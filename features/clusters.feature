@catalogue
Feature: The source and destination clusters are fit for a backup and a restore
  A backup needs an activated source; a restore needs a different cluster that is NotActivated.

  Background:
    Given the target's environment as ARM reports it

  @nist-cm-6 @mcsb-dp-8 @severity-medium
  Scenario: Both clusters are provisioned
    Then the "clusters.provisioned" check holds for each cluster

  @nist-cm-6 @nist-sc-13 @mcsb-dp-8 @severity-low
  Scenario: Both clusters are of a known Cloud HSM SKU
    Then the "clusters.sku" check holds for each cluster

  @nist-sc-7 @nist-cm-6 @mcsb-ns-2 @severity-high
  Scenario: Both clusters are private, reached through an approved private endpoint
    Then the "clusters.private" check holds for each cluster

  @nist-cp-9 @mcsb-br-1 @severity-high
  Scenario: The source cluster is activated, so it can be backed up
    Then the "clusters.source-active" check holds for the source cluster
