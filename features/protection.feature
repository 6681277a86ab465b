@catalogue
Feature: The backup data survives deletion, overwriting and the loss of a region
  The tutorial asks only that the clusters can reach the backup container. An auditor of backups
  asks more: that a deleted or overwritten backup can be recovered, that the backups cannot be
  changed before their retention ends, that neither the account nor a cluster can be deleted
  outright, and, where the target requires an alternate storage site,
  that a copy lives in a second region. What the target requires is in its [protection] table:
  min_soft_delete_days (7 unless it says otherwise), require_immutability, require_alternate_site.
  A property the blob service leaves out is judged by its documented default: soft delete and
  versioning are off.

  Background:
    Given the target's environment as ARM reports it

  Scenario Outline: The backup account keeps what is deleted or overwritten: <protection>
    Then the "<check>" check holds for the blob service

    @nist-cp-9 @nist-cm-6 @cis-9.2.1 @mcsb-br-2 @severity-medium
    Examples: Deleted blobs
      | protection       | check                    |
      | blob soft delete | storage.blob-soft-delete |

    @nist-cp-9 @nist-cm-6 @cis-9.2.2 @mcsb-br-2 @severity-medium
    Examples: Deleted containers
      | protection            | check                         |
      | container soft delete | storage.container-soft-delete |

    @nist-cp-9 @nist-cm-6 @cis-9.2.3 @mcsb-br-2 @severity-medium
    Examples: Overwritten blobs
      | protection | check              |
      | versioning | storage.versioning |

  @nist-cp-9 @nist-si-7 @mcsb-br-2 @severity-high
  Scenario: The backup container cannot be changed before its retention ends
    Then the "storage.immutability" check holds for the blob container

  @nist-cp-6 @nist-cp-6-1 @nist-cp-9 @cis-9.3.11 @mcsb-br-1 @severity-medium
  Scenario: The backup account keeps a copy in a second region when the target requires one
    Then the "storage.geo-redundant" check holds for the storage account

  @nist-cp-9 @nist-cm-5 @cis-9.3.9 @mcsb-br-2 @severity-medium
  Scenario: Neither the backup account nor a cluster can be deleted while a lock stands
    Then the "locks.delete-protected" check holds for the backup account and each cluster
