Feature: Contoso's backup standard for Cloud HSM
  Contoso's backup standard (CBS-2026) groups the checks chsm-checks ships into its own controls,
  one scenario per control. It uses the shipped step vocabulary only (chsm-checks steps lists it)
  and runs with: chsm-checks run --features examples/organisation

  Background:
    Given the target's environment as ARM reports it

  @contoso-cbs-3.1 @severity-high
  Scenario: Backups travel only over the private network, encrypted
    Then the "storage.private-endpoint" check holds for the storage account
    And the "storage.public-network" check holds for the storage account
    And the "storage.https-only" check holds for the storage account
    And the "storage.minimum-tls" check holds for the storage account

  @contoso-cbs-4.2 @severity-high
  Scenario: A deleted or overwritten backup can be recovered for a week
    Then the "storage.blob-soft-delete" check holds for the storage account
    And the "storage.container-soft-delete" check holds for the storage account

  @contoso-cbs-5.1 @severity-critical
  Scenario: Only the backup identity writes backups, and nobody reads them anonymously
    Then the "access.blob-data-contributor" check holds for the storage account
    And the "storage.shared-key-disabled" check holds for the storage account
    And the "storage.container-private" check holds for the blob container
