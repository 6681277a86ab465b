@cloudhsm-restore-validation
Feature: After a restore, the destination holds what the source held
  The tutorial's last step runs on the HSM client, not through ARM: point azcloudhsm_resource.cfg
  at the destination, check with azcloudhsm_mgmt_util that all three nodes are there, and log in as
  a crypto user with azcloudhsm_util to find the keys. Key handles may change; key ids do not.
  What is compared are two observed inventories: the source's, taken before the backup in this
  run, and the destination's. Without a restore that succeeded earlier in this run (in replay: as
  recorded) there is no restored destination, and these scenarios are not applicable; utilities
  that turn out to be talking to the source (its host in the configuration, its handles on every
  key) make a scenario an error, never a pass. The last check times the recovery: from the restore
  request to the destination reading Active, and to its validation having passed, by the service's
  own dates on its answers, against the target's recovery time objective.

  Background:
    Given a restore into the destination succeeded earlier in this run
    And the source inventory taken before the backup in this run
    And the target's restored destination cluster

  @nist-cp-10 @mcsb-br-4 @severity-high @hsm
  Scenario: The HSM client configuration points at the destination cluster
    When the HSM client configuration is pointed at the destination cluster
    Then the "restore.configuration-points-at-destination" check holds: every configuration file names the destination cluster's hsm1 private-link host

  @nist-cp-10 @nist-sc-12-1 @mcsb-br-4 @severity-critical @hsm
  Scenario: All three nodes of the restored destination are connected
    When the management utility reads the destination's cluster information
    Then the "restore.nodes-connected" check holds: it lists 3 nodes and reports none of them not connected

  @nist-cp-10 @nist-cp-9-1 @nist-sc-12 @mcsb-br-4 @severity-critical @hsm
  Scenario: The crypto user finds the source's keys on the destination, matched by key id
    When the crypto user inventories the destination cluster's keys
    Then the "restore.keys-restored" check holds: every source key is on the destination with the same label, class, type and attributes
    And the "restore.no-extra-keys" check holds: the destination holds no key the source did not

  @nist-cp-10 @nist-ac-2 @mcsb-br-4 @severity-high @hsm
  Scenario: Every destination node lists the source's users
    When the management utility lists the destination cluster's users
    Then the "restore.users-restored" check holds: every node lists the same users as the source

  @nist-cp-10 @nist-sc-12-1 @mcsb-br-4 @severity-high @hsm
  Scenario: Every node answers success for the login and for findKey
    When the crypto user inventories the destination cluster's keys
    Then the "restore.nodes-answer-success" check holds: every node reported success for the login and for findKey

  @nist-cp-10 @nist-cp-4 @mcsb-br-4 @severity-high
  Scenario: The drill recovers the destination within the target's RTO
    Given the restore validation is part of this drill
    When the restored destination is read after its restore validation
    Then the "restore.rto" check holds: it read Active, and its restore validation passed, within the target's rto_minutes of the restore request

  @self-check
  Rule: The harness reports a broken cluster or utility truthfully (faults injected into the sandbox)

    @severity-high @hsm @sandbox-faults
    Scenario: A destination node that is down is reported by name
      Given destination node 2 is unreachable
      When the management utility reads the destination's cluster information
      Then the node check reports server 1 not connected

    @severity-high @hsm @sandbox-faults
    Scenario: A wrong password is tried once and reported with its return code
      When the crypto user logs in to the destination with a wrong password
      Then the login is refused with return code 0xa3 on every node
      And the login was attempted exactly once

    @severity-medium @hsm @sandbox-faults
    Scenario: A utility that stops answering ends as an error after its timeout
      Given the destination's utilities never answer findKey
      When the crypto user runs findKey with a 1 second timeout
      Then the session ends as an error naming findKey and the timeout
