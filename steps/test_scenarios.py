"""Binds the features under ``features/`` as pytest tests (run by ``chsm-checks run``).

Order matters and is stated here: the restore drill inventories the source and backs it up and
restores it (backup_restore) before the restore is validated (restore_validation).
"""

from pytest_bdd import scenarios

FEATURES_IN_ORDER = ("backup_restore.feature", "restore_validation.feature")

# One call per feature: pytest runs tests in the order they are bound, and one call with several
# files does not keep the order given.
for _feature in FEATURES_IN_ORDER:
    scenarios(_feature)
