@cloudhsm-backup-restore
Feature: Cloud HSM backup and restore through ARM long-running operations
  The tutorial's flow: an activated cluster is backed up, through its user-assigned managed
  identity, into a blob container reached without SAS tokens; the backup is restored into a
  different cluster that is NotActivated. What the tutorial calls unsupported must never be sent:
  a restore into the source, a restore into an activated cluster, a SAS token. The scenarios that
  prove the harness's own refusals are self-checks: evidence about chsm-checks, not about the
  environment, so no control's verdict rests on them.

  Background:
    Given the target's source and destination clusters

  @nist-cp-9-1 @nist-sc-12 @mcsb-br-4 @severity-high @hsm
  Scenario: The source cluster's keys and users are inventoried before the backup
    Given the HSM client configuration points at the source cluster
    When the crypto user inventories the source cluster's keys
    And the management utility lists the source cluster's users
    Then the source inventory is kept for the restore checks

  @nist-cp-9 @mcsb-br-1 @mcsb-br-2 @severity-critical @mutating
  Scenario: A backup of the activated source cluster completes and yields a backup id
    Given the source cluster reads "Active"
    When the source cluster is backed up into the target's container
    Then the backup ends "Succeeded"
    And the backup id has the form cloudhsm-<uuid>-<digits>

  @nist-cp-10 @nist-cp-9-1 @nist-cp-4 @mcsb-br-4 @severity-critical @mutating @restores
  Scenario: A restore into a NotActivated destination completes and activates it
    Given a completed backup of the source cluster
    And the destination cluster reads "NotActivated"
    When that backup is restored into the destination cluster
    Then the restore ends "Succeeded"
    And the destination cluster reads "Active"

  @self-check @severity-critical @guard
  Scenario: A restore into the source cluster is refused before any request is sent
    When a backup is restored into the source cluster
    Then the restore is refused as "restore-into-source"
    And no request was sent

  @self-check @severity-critical @guard
  Scenario: A restore into an already activated cluster is refused before any restore request is sent
    Given the destination cluster has already been activated
    When a backup is restored into the destination cluster
    Then the restore is refused as "destination-not-notactivated"
    And no restore request was sent

  @self-check @severity-high @guard
  Scenario: A container URI carrying a SAS token is refused before any request is sent
    When the source cluster is backed up into the target's container with a SAS token appended
    Then the backup is refused as "sas-token"
    And no request was sent

  @nist-ac-3 @nist-ac-6 @mcsb-br-2 @severity-high @mutating @negative
  Scenario: A backup into a container the cluster's identity may not write fails with the service's error code
    Given a container the cluster's identity may not write
    When the source cluster is backed up into that container
    Then the backup does not succeed
    And the service's error code is captured
