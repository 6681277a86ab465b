@catalogue
Feature: A restore loses no more than the target allows
  A restore brings back what the source held at the backup it restores: every key made since the
  latest successful backup is lost. The target's [protection] rpo_hours (24 unless it says
  otherwise) is how much may be lost. The activity log says when the source's backups ran and how
  they ended; a replay judges them as of when the recording was made, and says so.

  Background:
    Given the target's environment as ARM reports it

  @nist-cp-9 @mcsb-br-1 @mcsb-br-3 @severity-high
  Scenario: The source's latest successful backup is within the recovery point objective
    Then the "backup.rpo" check holds for the source cluster
