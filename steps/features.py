"""Which feature files each test module binds, in the order a run takes them.

Order matters: the read-only configuration catalogue first, while the destination is still
NotActivated (``test_scenarios.py``); then the restore drill (``test_drill.py``) inventories the
source, backs it up and restores it (backup_restore) before the restore is validated
(restore_validation). The drill is one story on real clusters: under pytest-xdist its module runs
whole in one worker. A fleet target runs ``fleet.feature`` instead (``test_fleet.py``).
"""

CATALOGUE_FEATURES = (
    "identity.feature",
    "clusters.feature",
    "storage.feature",
    "protection.feature",
    "audit_trail.feature",
    "recovery.feature",
    "access.feature",
    "unsupported.feature",
)
DRILL_FEATURES = (
    "backup_restore.feature",
    "restore_validation.feature",
)
FEATURES_IN_ORDER = CATALOGUE_FEATURES + DRILL_FEATURES
