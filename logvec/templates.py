"""Template mining: Drain3's parse tree over masked lines, behind a cache of masked line → template id.

Most masked lines repeat exactly, so the cache answers almost every line and Drain's tree is walked only for
shapes it has not met yet. Drain never moves a line to another cluster (clusters only generalize), so a cached
id stays right while the cluster's template text evolves.

Drain routes lines by their first tokens, so a variable *word* early in a line ("user alice logged in",
"user bob logged in") splits one event into a cluster per value. When `merge_min_variants` or more clusters
of one length differ in exactly one position, they are one event with a parameter there: their ids are
merged into the smallest one, and the template shows `<*>` at that position.

The other way round, Drain generalizes a position as soon as a second word turns up there, so "VM Started" and
"VM Paused" become one template. A position Drain generalized is taken for a variable only once it has shown
`variable_min_values` distinct words; until then each word is an event of its own (an id of its own, the
template showing the word). When the position reaches that many, those ids are merged back into the cluster's.
One rule, seen from both sides: a slot is a variable when it has taken several values, not two.

Ids are 1, 2, 3… while fitting. Templates met after the fit (`learn_online()`) take an id derived from the
masked line that created them, from 2**40 up: workers sharing a data directory, each learning on its own, give
one new event the same id, and a worker that restarts from an older saved model gives it the same id again.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from drain3.drain import Drain

from logvec.config import TemplatesConfig

WILDCARD = "<*>"
_MASKED = re.compile(r"<[A-Z]+>")  # a masker's placeholder
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
        self._init_split()

    def _init_split(self) -> None:
        self._origin: dict[int, tuple[str, ...]] = {}  # cluster id -> tokens of the line that created it
        # (cluster, generalized position) -> words seen there, None once it is a variable
        self._values: dict[tuple[int, int], set[str] | None] = {}
        self._split: dict[int, dict[tuple, int]] = {}  # cluster id -> {((position, word), ...): event id}
        self._split_key: dict[int, tuple[int, tuple]] = {}  # event id -> (cluster id, key)
        self._merges: set[int] = set()  # ids merged into another since `pop_merges` last asked

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_origin" not in state:  # saved before words were split: its clusters keep their ids
            self._init_split()
        self.__dict__.setdefault("_merges", set())

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
        roots = {self._canonical(c) for c in group}
        root = min(roots)
        for c in group | roots:
            self._alias[c] = root
        self._merges |= (group | roots) - {root}
        for c, r in list(self._alias.items()):  # keep every alias pointing at a root
            if r in roots:
                self._alias[c] = root
        template = list(self._merged_template.get(root, tokens))
        template[pos] = WILDCARD
        self._merged_template[root] = template

    def _canonical(self, cluster_id: int) -> int:
        root = self._alias.get(cluster_id, cluster_id)
        while root != cluster_id:  # a split word merged back into a cluster that was merged itself
            cluster_id, root = root, self._alias.get(root, root)
        return root

    # ------------------------------------------------------------ splitting
    def _event(self, cluster, masked: str, learn: bool = True) -> int:
        """The event of a line Drain put in `cluster`: the cluster's id, or, while a position Drain generalized
        has shown fewer than `variable_min_values` words, the id of the line's words there (-1 when not
        `learn`ing and those words are new)."""
        k = getattr(self.config, "variable_min_values", 0)  # models saved before the setting: never split
        cid = cluster.cluster_id
        origin = self._origin.get(cid)
        template = cluster.log_template_tokens
        if k < 2 or origin is None or WILDCARD not in template:
            return cid
        tokens = self.drain.get_content_as_tokens(masked)
        if len(tokens) != len(template):
            return cid
        key = []
        for j, t in enumerate(template):
            if t != WILDCARD:
                continue
            seen = self._values.setdefault((cid, j), {origin[j]})
            if seen is None:  # a variable
                continue
            word = tokens[j]
            if word not in seen:
                if not learn:
                    return -1
                seen.add(word)
                # a variable after all: enough words, or one holding a masked value (`<HOST>`, `LOCAL(<NUM>)`)
                if len(seen) >= k or any(_MASKED.search(w) for w in seen):
                    self._values[(cid, j)] = None
                    self._dissolve(cid, j)
                    continue
            if word != origin[j]:
                key.append((j, word))
        if not key:
            return cid
        subs = self._split.setdefault(cid, {})
        event = subs.get(tuple(key))
        if event is None:
            if not learn:
                return -1
            event = self._split_id(cid, tuple(key))
        return event

    def _split_id(self, cid: int, key: tuple) -> int:
        drain = self.drain
        if self.online:  # derived from the cluster and the words, as a new cluster's id is (module docstring)
            event = online_id(f"{cid}\x00" + "\x00".join(f"{j}={w}" for j, w in key))
            while event in drain.id_to_cluster or event in self._split_key:
                event += 1
        else:
            drain.clusters_counter += 1  # numbered with the clusters, so no id is given twice
            event = drain.clusters_counter
        self._split[cid][key] = event
        self._split_key[event] = (cid, key)
        return event

    def _dissolve(self, cid: int, pos: int) -> None:
        """Position `pos` of cluster `cid` is a variable: merge each split event into the one without it."""
        subs = self._split.get(cid, {})
        for key, event in [(k, e) for k, e in subs.items() if any(j == pos for j, _ in k)]:
            rest = tuple((j, w) for j, w in key if j != pos)
            target = cid if not rest else subs.get(rest) or self._split_id(cid, rest)
            self._alias[event] = self._canonical(target)
            self._merges.add(event)

    def pop_merges(self) -> dict[int, int]:
        """The ids merged into another since the last call, each with the id its lines carry now, so that
        what was counted per template at the fit (rarity, rates) follows them; then forgets them."""
        merges = {old: self._canonical(old) for old in self._merges}
        self._merges = set()
        return {old: root for old, root in merges.items() if old != root}

    def learn_online(self) -> "TemplateMiner":
        """From now on new templates take ids derived from their first line (see the module docstring)."""
        self.online = True
        return self

    def _add(self, masked: str):
        if not self.online:
            return self.drain.add_log_message(masked)
        drain, counter = self.drain, self.drain.clusters_counter
        cid = online_id(masked)
        while cid in drain.id_to_cluster or cid in self._split_key:  # taken (a hash collision): the next free one
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
                if change == "cluster_created":
                    self._origin[cluster.cluster_id] = tuple(cluster.log_template_tokens)
                if change != "none":
                    self._track(cluster)
                hit = self._event(cluster, m)
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
                hit = self._event(cluster, m, learn=False) if cluster is not None else -1
            out[i] = hit
        return self._map_aliases(out) if self._alias else out

    # ------------------------------------------------------------ templates
    def template(self, template_id: int) -> str:
        root = self._canonical(template_id)
        split = self._split_key.get(root)
        if split is not None:  # its cluster's template with this event's words in their places
            cid, key = split
            tokens = self.template(cid).split(" ")
            for j, word in key:
                if j < len(tokens):
                    tokens[j] = word
            return " ".join(tokens)
        merged = self._merged_template.get(root)
        if merged is not None:
            return " ".join(merged)
        cluster = self.drain.id_to_cluster.get(root)
        if cluster is None:
            return ""
        tokens = list(cluster.log_template_tokens)
        origin = self._origin.get(root)
        if origin is not None and len(origin) == len(tokens):  # a slot still split shows the cluster's own word
            for j, t in enumerate(tokens):
                if t == WILDCARD and self._values.get((root, j)) is not None:
                    tokens[j] = origin[j]
        return " ".join(tokens)

    def templates(self, ids: np.ndarray) -> list[str]:
        """Template text for each id, looked up once per distinct id."""
        uniq, inverse = np.unique(ids, return_inverse=True)
        texts = [self.template(int(t)) for t in uniq]
        return [texts[i] for i in inverse]

    @property
    def n_templates(self) -> int:
        return len({self._canonical(c) for c in (*self.drain.id_to_cluster.keys(), *self._split_key)})


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
