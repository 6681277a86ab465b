"""Run output: ``summary.json`` (JUnit, Cucumber JSON and Allure results come from their plugins)."""

from __future__ import annotations

from .summary import ScenarioEntry, write_summary

__all__ = ["ScenarioEntry", "write_summary"]
