@catalogue
Feature: The backup storage account is private and accepts only secure, authenticated access
  Backups land in a blob container of a storage account that the clusters reach through a private
  endpoint. What the account accepts is read from ARM; a property ARM leaves out is judged by its
  documented default (no minimum TLS version means TLS 1.0; no anonymous-access setting means off).

  Background:
    Given the target's environment as ARM reports it

  @nist-sc-7 @nist-cm-6 @cis-9.3.2.1 @mcsb-ns-2 @severity-high
  Scenario: A private endpoint connects the account's blob service from the expected network
    Then the "storage.private-endpoint" check holds for the storage account

  Scenario Outline: The storage account's <setting> is as the tutorial requires
    Then the "<check>" check holds for the storage account

    @nist-sc-8 @nist-sc-8-1 @nist-cm-6 @cis-9.3.4 @mcsb-dp-3 @severity-high
    Examples: Secure transfer
      | setting             | check              |
      | secure transfer     | storage.https-only |

    @nist-sc-8-1 @nist-cp-9-8 @nist-cm-6 @cis-9.3.6 @mcsb-dp-3 @severity-high
    Examples: Transport security
      | setting             | check               |
      | minimum TLS version | storage.minimum-tls |

    @nist-ac-3 @nist-cm-6 @cis-9.3.8 @mcsb-br-2 @severity-high
    Examples: Anonymous access
      | setting                | check                         |
      | anonymous blob access  | storage.blob-anonymous-access |

    @nist-ac-3 @nist-cm-6 @cis-9.3.7 @mcsb-br-2 @severity-medium
    Examples: Replication
      | setting                  | check                            |
      | cross-tenant replication | storage.cross-tenant-replication |

  @nist-ac-3 @nist-cm-6 @mcsb-br-2 @severity-high
  Scenario: The backup container allows no public access
    Then the "storage.container-private" check holds for the blob container
