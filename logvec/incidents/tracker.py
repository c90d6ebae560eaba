"""Incidents kept up to date from the store while the pipeline runs, and rebuilt from it on demand.

The store is the one source: the tracker reads the anomalies it holds since the earliest open incident
started (flags added after the fact, by a session or a rate storm, included), groups them again, and writes
the incidents that changed. Workers sharing a store therefore agree on the incidents: an incident's id is
that of its first anomaly, whoever writes it. Only what changed since the last update is vectorized (the
signature) and written; resolutions given by feedback are kept.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from logvec.incidents.grouping import bursts, describe, group
from logvec.incidents.incident import Anomaly, Incident
from logvec.incidents.signature import signature
from logvec.store.base import MAX_ANOMALIES

if TYPE_CHECKING:
    from logvec.config import IncidentsConfig
    from logvec.detect.rate import RateModel
    from logvec.masking import Masker
    from logvec.store import Store
    from logvec.vectorize.base import BaseVectorizer

HORIZON_STEP = 1e-3  # seconds past a closed incident's end: the next read starts after its last anomaly
BURST_MEMORY = 3  # gaps of anomalies kept in view with no incident open: a burst building up slowly is still seen


class IncidentTracker:
    def __init__(self, config: IncidentsConfig, store: Store, vectorizer: BaseVectorizer, masker: Masker,
                 model_id: str | None = None, baseline: RateModel | None = None) -> None:
        self.config = config
        self.baseline = baseline  # each template's rate in the baseline: what a burst is measured against
        self.store = store
        self.vectorizer = vectorizer
        self.masker = masker
        self.model_id = model_id
        self.clock = -math.inf  # the newest line time seen: what closes incidents
        self.horizon: float | None = None  # anomalies before this belong to closed incidents
        self._written: dict[str, tuple] = {}  # id -> what was last written of it (skip rewriting the same)
        self.opened: list[Incident] = []  # of the last update: incidents no one had written before
        self.still_open = 0  # after the last update
        self._updated = 0.0

    def observe(self, timestamps: np.ndarray) -> None:
        """Lines of these times were stored: event time moves on (NaN times tell nothing)."""
        if len(timestamps):
            newest = np.nanmax(timestamps) if not np.all(np.isnan(timestamps)) else math.nan
            if newest == newest:
                self.clock = max(self.clock, float(newest))

    def due(self) -> bool:
        return time.monotonic() - self._updated >= self.config.update_interval

    def update(self, finish: bool = False) -> list[Incident]:
        """Regroup the anomalies since the horizon and write what changed; `finish`: the input ended, every
        incident is closed. Returns the incidents written."""
        self._updated = time.monotonic()
        if self.horizon is None:
            self.horizon = self._start()
        built = self.build(self.store.anomalies(since=self.horizon), math.inf if finish else self.clock)
        if not built:
            self.opened, self.still_open = [], 0
            self._advance([], self.clock)
            return []
        stored = {i.id: i for i in self.store.incidents(since=self.horizon, limit=MAX_ANOMALIES)}
        ids = {inc.id for inc, _ in built}
        changed = []
        self.opened = [inc for inc, _ in built if inc.id not in stored and inc.id not in self._written]
        for inc, members in built:
            old = stored.get(inc.id)
            if old is not None and old.resolution:
                inc.resolution, inc.status = old.resolution, "resolved"
            if self._written.get(inc.id) != _shape(inc):
                inc.signature = signature(members, self.vectorizer, self.masker)
                changed.append(inc)
        # an open incident regrouped under another first anomaly (one flagged late, earlier in time) is replaced
        gone = [i for i, old in stored.items() if i not in ids and old.status == "open"]
        self.store.upsert_incidents(changed, delete=gone)
        self._written.update((i.id, _shape(i)) for i in changed)
        self.still_open = sum(inc.status == "open" for inc, _ in built)
        self._advance([inc for inc, _ in built], self.clock)
        return changed

    def build(self, anomalies: list[Anomaly], clock: float) -> list[tuple[Incident, list[Anomaly]]]:
        """Incidents of these anomalies, each with its members; closed when its last anomaly is more than
        `gap` before `clock`."""
        c = self.config
        return [(describe(members, closed=clock - members[-1].ts > c.gap, top=c.top_templates,
                          model_id=self.model_id), members)
                for members in group(self.bursts(anomalies), c.gap, c.link_window)]

    def bursts(self, anomalies: list[Anomaly]) -> list[Anomaly]:
        c, rates = self.config, self.baseline
        expected = getattr(rates, "expected_", None)
        return bursts(anomalies, c.gap, c.min_burst, c.burst_ratio,
                      (lambda service, tid: expected.get((service, tid), 0.0)) if expected else None,
                      rates.window_s if rates is not None else 60.0)

    def _advance(self, incidents: list[Incident], clock: float) -> None:
        """The next read starts at the earliest open incident; with none open, past the last closed one, and
        no earlier than BURST_MEMORY gaps before the clock (background anomalies are not read again and again)."""
        open_starts = [i.start for i in incidents if i.status == "open"]
        if open_starts:
            self.horizon = min(open_starts)
            return
        floor = clock - BURST_MEMORY * self.config.gap
        if incidents:
            floor = max(floor, max(i.end for i in incidents) + HORIZON_STEP)
        if math.isfinite(floor) and (self.horizon is None or floor > self.horizon):
            self.horizon = floor

    def _start(self) -> float | None:
        """Where a tracker starting on a store with incidents picks up: the latest one's start when it is open,
        else just past its end."""
        latest = self.store.incidents(limit=1)
        if not latest:
            return None
        inc = latest[0]
        return inc.start if inc.status == "open" else inc.end + HORIZON_STEP

    def rebuild(self, now: float | None = None) -> list[Incident]:
        """Every incident again from every anomaly in the store (resolutions kept); `now` closes them
        (default: the wall clock)."""
        resolutions = {i.id: i.resolution for i in self.store.incidents(limit=10_000_000) if i.resolution}
        anomalies: list[Anomaly] = []
        seen: set[str] = set()
        since = None
        while True:  # in steps of MAX_ANOMALIES: a step starts at the time the last one ended on
            step = self.store.anomalies(since=since)
            fresh = [a for a in step if a.id not in seen]
            anomalies += fresh
            seen.update(a.id for a in fresh)
            if not fresh or len(step) < MAX_ANOMALIES:
                break
            since = step[-1].ts
        built = self.build(anomalies, time.time() if now is None else now)
        for inc, members in built:
            inc.signature = signature(members, self.vectorizer, self.masker)
            if inc.id in resolutions:
                inc.resolution, inc.status = resolutions[inc.id], "resolved"
        incidents = [inc for inc, _ in built]
        self.store.delete_incidents()
        for start in range(0, len(incidents), 1000):
            self.store.upsert_incidents(incidents[start:start + 1000])
        self._written = {i.id: _shape(i) for i in incidents}
        self.horizon = None
        self._advance(incidents, time.time() if now is None else now)
        return incidents


def _shape(inc: Incident) -> tuple:
    return inc.anomalies, inc.end, inc.status, inc.start
