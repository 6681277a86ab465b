"""A fleet run's Resource Graph queries: sent through the run's client within the caller's quota,
each kept once, with every page of its answer, as run-level evidence.

A query and its pages are written, scrubbed as any exchange is, to
``evidence/resource-graph/<process>-<n>.json`` of the run's reports (``<process>`` is ``main``, or
the pytest-xdist worker), as the query's answer comes; a cluster's evidence names the file that
held each of its resources rather than repeating a page of a thousand rows in every cluster.
Pages already answered are kept even when a later page fails.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..arm.client import ArmClient
from ..arm.graph_query import GraphQuery
from ..arm.resource_graph import GraphQuota, query_rows
from ..evidence.store import exchange_record
from ..recording.scrub import Scrubber
from .audit import ExchangeCapture
from .graph_reader import Answer

EVIDENCE_DIR = Path("evidence") / "resource-graph"
"""Where in a run's reports the queries are kept."""


@dataclass
class GraphLog:
    """The run's Resource Graph: every query of one process goes through :meth:`ask`."""

    client: ArmClient
    capture: ExchangeCapture
    scrubber: Scrubber
    report_dir: Path | None = None
    quota: GraphQuota = field(default_factory=GraphQuota)
    process: str = "main"  # or the pytest-xdist worker: each process names the files it keeps
    queries: int = 0
    pages: int = 0  # answer pages received, every query's
    _names: int = 0  # the last number a kept file took
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ask(
        self, query: GraphQuery, subscriptions: Sequence[str], on_page: Callable[[int], None] | None = None
    ) -> Answer:
        """Every row ``query`` answers over ``subscriptions``; an ``ArmError`` if a page fails, after
        the pages answered so far are kept."""
        with self._lock:
            self.queries += 1
        answer = Answer([])

        def counted(rows: int) -> None:
            with self._lock:
                self.pages += 1
            if on_page is not None:
                on_page(rows)

        with self.capture.reading() as exchanges:
            try:
                answer.rows = list(
                    query_rows(self.client, query, subscriptions, quota=self.quota, on_page=counted)
                )
            finally:
                answer.kept_as = self._keep(query, subscriptions, exchanges)
        return answer

    @staticmethod
    def nothing() -> dict[str, Any]:
        """The account of a process that sent no query."""
        return {"queries": 0, "pages": 0, "quota_waits": 0, "quota_waited_seconds": 0.0}

    def account(self) -> dict[str, Any]:
        """The queries' part of summary.json's fleet account."""
        return {
            "queries": self.queries,
            "pages": self.pages,
            "quota_waits": self.quota.waits,
            "quota_waited_seconds": round(self.quota.waited_seconds, 3),
        }

    def _keep(self, query: GraphQuery, subscriptions: Sequence[str], exchanges: list[Any]) -> str | None:
        if self.report_dir is None:
            return None
        for raw in exchanges:  # learn the answers' ids first: a query names principals it filters on
            self.scrubber.learn(raw.as_httpx()[1].content)
        document = {
            "query": self.scrubber.text(query.text()),
            "subscriptions": len(subscriptions),
            "pages": [
                record
                for raw in exchanges
                if (record := exchange_record(self.scrubber, *raw.as_httpx())) is not None
            ],
        }
        (self.report_dir / EVIDENCE_DIR).mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, separators=(",", ":")) + "\n"
        while True:  # never over another's: a file of that name is a query some process kept
            with self._lock:
                self._names += 1
                relative = EVIDENCE_DIR / f"{self.process}-{self._names:04d}.json"
            try:
                with (self.report_dir / relative).open("x", encoding="utf-8") as kept:
                    kept.write(text)
                return relative.as_posix()
            except FileExistsError:
                continue
