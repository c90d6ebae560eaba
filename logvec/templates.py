"""Template mining: Drain3's parse tree over masked lines, behind a cache of masked line → template id.

Most masked lines repeat exactly, so the cache answers almost every line and Drain's tree is walked only for
shapes it has not met yet. Drain never moves a line to another cluster (clusters only generalize), so a cached
id stays right while the cluster's template text evolves.

Drain routes lines by their first tokens, so a variable *word* early in a line ("user alice logged in",
"user bob logged in") splits one event into a cluster per value. When `merge_min_variants` or more clusters
of one length differ in exactly one position, they are one event with a parameter there: their ids are
merged into the smallest one, and the template shows `<*>` at that position.

Ids are 1, 2, 3… while fitting. Templates met after the fit (`learn_online()`) take an id derived from the
masked line that created them, from 2**40 up: workers sharing a data directory, each learning on its own, give
one new event the same id, and a worker that restarts from an older saved model gives it the same id again.
"""

from __future__ import annotations

import hashlib

import numpy as np
from drain3.drain import Drain

from logvec.config import TemplatesConfig

WILDCARD = "<*>"
MIN_CONTEXT = 2  # constant words besides the varying one before templates may be merged
ONLINE_ID_BASE = 2**40  # ids of templates met after the fit: above any fitted id, below 2**53 (JSON-safe)


def online_id(masked: str) -> int:
    """The id a template created by this masked line takes, before collisions are stepped over."""
    digest = hashlib.blake2b(masked.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return ONLINE_ID_BASE + int.from_bytes(digest, "big") % ONLINE_ID_BASE


class TemplateMiner:
    """`update(masked) -> template ids` learns; `match(masked)` only looks up (-1 for an unknown shape)."""

    online = False  # set by learn_online() once fitted (a class default, so older saved models load)

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
        self._alias: dict[int, int] = {}  # cluster id -> merged template id
        self._merged_template: dict[int, list[str]] = {}
        self._variants: dict[tuple, set[int]] = {}  # one-position-wildcard signature -> cluster ids
        self._signed: dict[int, tuple[str, ...]] = {}  # cluster id -> tokens its signatures were made from

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = {}  # derivable; keeps saved models small
        return state

    # ------------------------------------------------------------ merging
    def _track(self, cluster) -> None:
        """Index a new or changed cluster's signatures; merge a signature group once it is big enough."""
        k = self.config.merge_min_variants
        if not k:
            return
        tokens = tuple(cluster.log_template_tokens)
        cid = cluster.cluster_id
        if self._signed.get(cid) == tokens:
            return
        self._signed[cid] = tokens
        constants = sum(1 for t in tokens if t != WILDCARD and not (t.startswith("<") and t.endswith(">")))
        if constants < MIN_CONTEXT + 1:  # "active" vs "closing": no context says these are one event
            return
        for i, tok in enumerate(tokens[: self.config.depth - 2]):  # the positions Drain routes by
            if tok == WILDCARD or (tok.startswith("<") and tok.endswith(">")):
                continue
            sig = (len(tokens), i, tokens[:i], tokens[i + 1:])
            group = self._variants.setdefault(sig, set())
            group.add(cid)
            if len(group) >= k:
                self._merge(group, tokens, i)

    def _merge(self, group: set[int], tokens: tuple[str, ...], pos: int) -> None:
        roots = {self._alias.get(c, c) for c in group}
        root = min(roots)
        for c in group | roots:
            self._alias[c] = root
        for c, r in list(self._alias.items()):  # keep every alias pointing at a root
            if r in roots:
                self._alias[c] = root
        template = list(self._merged_template.get(root, tokens))
        template[pos] = WILDCARD
        self._merged_template[root] = template

    def _canonical(self, cluster_id: int) -> int:
        return self._alias.get(cluster_id, cluster_id)

    def learn_online(self) -> "TemplateMiner":
        """From now on new templates take ids derived from their first line (see the module docstring)."""
        self.online = True
        return self

    def _add(self, masked: str):
        if not self.online:
            return self.drain.add_log_message(masked)
        drain, counter = self.drain, self.drain.clusters_counter
        cid = online_id(masked)
        while cid in drain.id_to_cluster:  # another line's id (a hash collision): the next free one
            cid += 1
        drain.clusters_counter = cid - 1  # Drain numbers a new cluster counter + 1
        try:
            return drain.add_log_message(masked)
        finally:
            drain.clusters_counter = counter

    # ------------------------------------------------------------ lines
    def _remember(self, key: str, cluster_id: int) -> None:
        if len(self._cache) >= self.config.cache_size:
            self._cache.clear()
        self._cache[key] = cluster_id

    def update(self, masked: list[str]) -> np.ndarray:
        cache = self._cache
        ids = np.fromiter((cache.get(m, -1) for m in masked), dtype=np.int64, count=len(masked))
        missed = np.flatnonzero(ids < 0)
        for i in missed:
            m = masked[i]
            hit = cache.get(m)  # an earlier miss in this batch may have added it
            if hit is None:
                cluster, change = self._add(m)
                hit = cluster.cluster_id
                if change != "none":
                    self._track(cluster)
                self._remember(m, hit)
            ids[i] = hit
        if self._alias:  # merges may have happened since the cache learned an id
            ids = self._map_aliases(ids)
        return ids

    def _map_aliases(self, ids: np.ndarray) -> np.ndarray:
        uniq, inverse = np.unique(ids, return_inverse=True)
        return np.array([self._canonical(int(u)) for u in uniq], dtype=np.int64)[inverse]

    def match(self, masked: list[str]) -> np.ndarray:
        out = np.empty(len(masked), dtype=np.int64)
        for i, m in enumerate(masked):
            hit = self._cache.get(m)
            if hit is None:
                cluster = self.drain.match(m, full_search_strategy="fallback")
                hit = cluster.cluster_id if cluster is not None else -1
            out[i] = hit
        return self._map_aliases(out) if self._alias else out

    # ------------------------------------------------------------ templates
    def template(self, template_id: int) -> str:
        root = self._canonical(template_id)
        merged = self._merged_template.get(root)
        if merged is not None:
            return " ".join(merged)
        cluster = self.drain.id_to_cluster.get(root)
        return cluster.get_template() if cluster is not None else ""

    def templates(self, ids: np.ndarray) -> list[str]:
        """Template text for each id, looked up once per distinct id."""
        uniq, inverse = np.unique(ids, return_inverse=True)
        texts = [self.template(int(t)) for t in uniq]
        return [texts[i] for i in inverse]

    @property
    def n_templates(self) -> int:
        return len({self._canonical(c) for c in self.drain.id_to_cluster.keys()})


def grouping_accuracy(truth: list, predicted: list) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true event (Zhu et al., 2019)."""
    from collections import defaultdict

    true_groups: dict = defaultdict(set)
    pred_groups: dict = defaultdict(list)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        true_groups[t].add(i)
        pred_groups[p].append(i)
    correct = sum(len(ids) for ids in pred_groups.values() if true_groups[truth[ids[0]]] == set(ids))
    return correct / len(truth) if truth else 0.0
