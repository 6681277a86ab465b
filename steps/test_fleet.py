"""Binds ``features/fleet.feature``: one test per discovered cluster, the cluster in the test id.

``chsm-checks run`` runs this module, instead of ``test_scenarios.py``, for a fleet target.
"""

from pytest_bdd import scenario


@scenario("fleet.feature", "A discovered cluster meets every read-only backup check")
def test_fleet(fleet_member: object) -> None:
    """The cluster is the test's parameter (``pytest_generate_tests`` in the chsm-checks plugin)."""
