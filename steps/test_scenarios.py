"""Binds every feature under ``features/`` as pytest tests (run by ``chsm-checks run``)."""

from pytest_bdd import scenarios

scenarios(".")
