"""A run's lifecycle: the plan, each scenario's outcome, what was interrupted, the summary, the
reports, the seal and ``reports/latest``.

The plugin feeds it (:class:`~.ledger.RunLedger` is registered as a pytest plugin, and in every
pytest-xdist worker reports through xdist's own channels); the CLI drives it
(:func:`~.finish.finish_run`).
"""
