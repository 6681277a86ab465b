"""Evidence: what each scenario observed, as files in the run's ``evidence/`` and Allure attachments."""

from __future__ import annotations

from .store import ScenarioEvidence, exchange_record

__all__ = ["ScenarioEvidence", "exchange_record"]
