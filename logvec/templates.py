"""Template mining: Drain3's parse tree over masked lines, behind a cache of masked line → template id.

Most masked lines repeat exactly, so the cache answers almost every line and Drain's tree is walked only for
shapes it has not met yet. Drain never moves a line to another cluster (clusters only generalize), so a cached
id stays right while the cluster's template text evolves.
"""

from __future__ import annotations

import numpy as np
from drain3.drain import Drain

from logvec.config import TemplatesConfig


class TemplateMiner:
    """`update(masked) -> template ids` learns; `match(masked)` only looks up (-1 for an unknown shape)."""

    def __init__(self, config: TemplatesConfig | None = None) -> None:
        self.config = config or TemplatesConfig()
        c = self.config
        self.drain = Drain(
            depth=c.depth,
            sim_th=c.sim_th,
            max_children=c.max_children,
            max_clusters=c.max_clusters,
            extra_delimiters=tuple(c.extra_delimiters),
        )
        self._cache: dict[str, int] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = {}  # derivable; keeps saved models small
        return state

    def _remember(self, key: str, cluster_id: int) -> None:
        if len(self._cache) >= self.config.cache_size:
            self._cache.clear()
        self._cache[key] = cluster_id

    def update(self, masked: list[str]) -> np.ndarray:
        cache = self._cache
        ids = np.fromiter((cache.get(m, -1) for m in masked), dtype=np.int64, count=len(masked))
        for i in np.flatnonzero(ids < 0):
            m = masked[i]
            hit = cache.get(m)  # an earlier miss in this batch may have added it
            if hit is None:
                cluster, _ = self.drain.add_log_message(m)
                hit = cluster.cluster_id
                self._remember(m, hit)
            ids[i] = hit
        return ids

    def match(self, masked: list[str]) -> np.ndarray:
        out = np.empty(len(masked), dtype=np.int64)
        for i, m in enumerate(masked):
            hit = self._cache.get(m)
            if hit is None:
                cluster = self.drain.match(m, full_search_strategy="fallback")
                hit = cluster.cluster_id if cluster is not None else -1
            out[i] = hit
        return out

    def template(self, template_id: int) -> str:
        cluster = self.drain.id_to_cluster.get(template_id)
        return cluster.get_template() if cluster is not None else ""

    def templates(self, ids: np.ndarray) -> list[str]:
        """Template text for each id, looked up once per distinct id."""
        uniq, inverse = np.unique(ids, return_inverse=True)
        texts = [self.template(int(t)) for t in uniq]
        return [texts[i] for i in inverse]

    @property
    def n_templates(self) -> int:
        return len(self.drain.id_to_cluster)
