# The chsm-checks plugin comes in through its pytest11 entry point; the steps are glue modules.
pytest_plugins = ["steps.catalogue", "steps.backup_restore", "steps.restore_validation", "steps.fleet"]
