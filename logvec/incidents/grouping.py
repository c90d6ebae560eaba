"""Anomalies grouped into incidents: bursts first, then by time, then by what they share.

Detectors flag some lines of normal traffic all the time (a rare error that has always come now and then).
Such background would chain every real incident into one long one, so only *bursts* make incidents: the
anomalies of one template (per service) are split into runs wherever `gap` passes without one, and a run
counts when it holds at least `min_burst` anomalies, at least `burst_ratio` times what the baseline's rate of
that template predicts over the run, and a count that rate makes unlikely (Poisson, below `BURST_P_VALUE`:
many templates over many hours make a few chance clusters). Templates the baseline never saw predict none. Rate
storms and drops have been judged against the baseline already: they count as they are.

An anomaly of a burst joins an open incident when it comes within `gap` of that incident's last anomaly and
either shares a service or a template with it, or comes within `link_window` of it (a cascade: the database
fails and the API in front of it fails the same second). Otherwise it opens an incident of its own. An incident
whose last anomaly is more than `gap` behind the newest line seen is closed. Anomalies are few next to lines (one in
hundreds or thousands), so this walks them one by one; the hot path never calls it per line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from logvec.incidents.incident import Anomaly, Incident


_JUDGED = {"rate", "rate_drop"}  # kinds judged against the baseline's rates already
BURST_P_VALUE = 1e-4


@dataclass
class _Open:
    members: list[Anomaly] = field(default_factory=list)
    services: set[str] = field(default_factory=set)
    templates: set[int | str] = field(default_factory=set)
    last: float = 0.0

    def add(self, a: Anomaly) -> None:
        self.members.append(a)
        self.services.add(a.service)
        self.templates.add(template_key(a))
        self.last = max(self.last, a.ts)


def template_key(a: Anomaly) -> int | str:
    return a.template_id if a.template_id is not None else a.template


def bursts(anomalies: list[Anomaly], gap: float, min_burst: int = 3, burst_ratio: float = 5.0,
           expected: Callable[[str, int | None], float] | None = None, window_s: float = 60.0) -> list[Anomaly]:
    """The anomalies that belong to a burst (see the module's docstring), in time order. `expected(service,
    template_id)`: the baseline's lines of that template per `window_s`."""
    runs: dict[tuple[str, int | str], list[Anomaly]] = {}
    out: list[Anomaly] = []
    for a in sorted(anomalies, key=lambda a: (a.ts, a.id)):
        if _JUDGED.intersection(a.kinds):
            out.append(a)
        else:
            runs.setdefault((a.service, template_key(a)), []).append(a)
    for (service, _), members in runs.items():
        ts = np.array([a.ts for a in members])
        cuts = np.flatnonzero(np.diff(ts) > gap) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(members)]):
            run = members[lo:hi]
            span = max(float(ts[hi - 1] - ts[lo]), window_s)
            mean = (expected(service, run[0].template_id) if expected is not None else 0.0) * span / window_s
            if len(run) >= min_burst and len(run) >= burst_ratio * mean and (
                    mean <= 0 or stats.poisson.sf(len(run) - 1, mean) < BURST_P_VALUE):
                out += run
    out.sort(key=lambda a: (a.ts, a.id))
    return out


def group(anomalies: list[Anomaly], gap: float, link_window: float) -> list[list[Anomaly]]:
    """The anomalies (any order) as groups, each in time order, the groups by their first anomaly."""
    ordered = sorted(anomalies, key=lambda a: (a.ts, a.id))
    done: list[_Open] = []
    live: list[_Open] = []
    for a in ordered:
        still = [g for g in live if a.ts - g.last <= gap]
        done += [g for g in live if a.ts - g.last > gap]
        live = still
        related = [g for g in live if a.service in g.services or template_key(a) in g.templates]
        near = [g for g in live if a.ts - g.last <= link_window]
        pick = related or near
        if pick:
            max(pick, key=lambda g: g.last).add(a)
        else:
            g = _Open()
            g.add(a)
            live.append(g)
    groups = [g.members for g in done + live]
    groups.sort(key=lambda m: (m[0].ts, m[0].id))
    return groups


def incident_id(first: Anomaly) -> str:
    """Stable across rebuilds and workers: the same first anomaly gives the same id."""
    return hashlib.sha256(first.id.encode()).hexdigest()[:12]


def describe(members: list[Anomaly], closed: bool, top: int = 5, model_id: str | None = None) -> Incident:
    """An incident of these anomalies (time ordered): counts, top templates with an example each, a summary."""
    services = Counter(a.service or "(none)" for a in members)
    kinds = Counter(k for a in members for k in (a.kinds or ["anomaly"]))
    by_template: dict[int | str, list[Anomaly]] = {}
    for a in members:
        by_template.setdefault(template_key(a), []).append(a)
    ranked = sorted(by_template.values(), key=lambda m: (-len(m), m[0].ts))
    top_templates = []
    for m in ranked[:top]:
        example = max(m, key=lambda a: (a.score if a.score is not None else 0.0, -a.ts))
        top_templates.append({"template_id": m[0].template_id, "template": m[0].template or m[0].message,
                              "count": len(m), "service": m[0].service, "example": example.message,
                              "example_id": example.id})
    start, end = members[0].ts, max(a.ts for a in members)
    return Incident(id=incident_id(members[0]), start=start, end=end, anomalies=len(members),
                    services=dict(services.most_common()), kinds=dict(kinds.most_common()),
                    top_templates=top_templates, summary=summarize(members, services, kinds, top_templates),
                    status="closed" if closed else "open", model_id=model_id)


def summarize(members: list[Anomaly], services: Counter, kinds: Counter, top_templates: list[dict]) -> str:
    """One sentence an on-call SRE reads first: how many, how long, where, what most."""
    span = max(a.ts for a in members) - members[0].ts
    length = f"{span / 60:.0f} min" if span >= 90 else f"{span:.0f} s"
    where = ", ".join(s for s, _ in services.most_common(3)) + (
        f" and {len(services) - 3} more" if len(services) > 3 else "")
    what = "; ".join(f"{t['example'][:100]}" + (f" (×{t['count']})" if t["count"] > 1 else "")
                     for t in top_templates[:2])
    kind = ", ".join(k for k, _ in kinds.most_common(2))
    n = len(members)
    return f"{n} anomal{'y' if n == 1 else 'ies'} ({kind}) in {length} on {where}: {what}"
