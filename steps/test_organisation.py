"""Binds the organisation's own features (``chsm-checks run --features DIR``) with the shipped steps."""

from pytest_bdd import scenarios

from chsm_checks import bound_features

# One call per file, in the order given: pytest runs tests in the order they are bound.
for _feature in bound_features():
    scenarios(str(_feature))
