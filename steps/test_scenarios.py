"""Binds the configuration catalogue's features (``steps/features.py`` says why in this order)."""

from pytest_bdd import scenarios

from steps.features import CATALOGUE_FEATURES

# One call per feature: pytest runs tests in the order they are bound, and one call with several
# files does not keep the order given.
for _feature in CATALOGUE_FEATURES:
    scenarios(_feature)
