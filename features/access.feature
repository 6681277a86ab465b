@catalogue
Feature: The cluster identity holds just enough access to the backup storage
  The identity needs Storage Blob Data Contributor on the storage account (or the container) and
  nothing broader: a role such as Owner or Storage Blob Data Owner on the account is a finding.

  Background:
    Given the target's environment as ARM reports it

  @nist-ac-6 @mcsb-pa-7 @severity-high
  Scenario: The identity holds no role on the account beyond what the backup needs
    Then the "access.least-privilege" check holds for each identity the clusters use
