"""Binds the restore drill's features, in order (``steps/features.py``); run after the catalogue."""

from pytest_bdd import scenarios

from steps.features import DRILL_FEATURES

for _feature in DRILL_FEATURES:
    scenarios(_feature)
