"""Binds the features under ``features/`` as pytest tests (run by ``chsm-checks run``).

Order matters and is stated here: the read-only configuration catalogue first, while the
destination is still NotActivated; then the restore drill inventories the source, backs it up and
restores it (backup_restore) before the restore is validated (restore_validation).
"""

from pytest_bdd import scenarios

FEATURES_IN_ORDER = (
    "identity.feature",
    "clusters.feature",
    "storage.feature",
    "access.feature",
    "unsupported.feature",
    "backup_restore.feature",
    "restore_validation.feature",
)

# One call per feature: pytest runs tests in the order they are bound, and one call with several
# files does not keep the order given.
for _feature in FEATURES_IN_ORDER:
    scenarios(_feature)
