"""The read side: `search`, `stats`, `sessions`, `events` and the API, apart from the write side.

A `Searcher` holds the registry's active model (or a pinned version), the query's redactor, parser and
masker, and a store reader on that model's vectors. It opens no Kafka producer or consumer, so the search
API and `logvec stats` keep working while Kafka is down; dead letters in a Kafka topic are not counted here
(the workers count them: `logvec_dead_letters_total`), and are reported as unknown, never as 0.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from logvec.config import PipelineConfig
from logvec.deadletter import DeadLetterFile
from logvec.incidents import Anomaly, Incident
from logvec.incidents.feedback import NormalMark
from logvec.incidents.grouping import describe, group, incident_id
from logvec.incidents.signature import rank_similar, signature
from logvec.incidents.tracker import IncidentTracker
from logvec.masking import Masker
from logvec.meaning import TemplateMeanings
from logvec.model import Model, ModelError
from logvec.parse import Parser
from logvec.pipeline import dead_letter_place
from logvec.records import RawBatch
from logvec.redact import Redactor
from logvec.registry import open_registry
from logvec.store import Hit, SearchFilters, Store, open_store

LOOK_INTERVAL_S = 1.0  # how often, at most, a long-lived searcher asks the registry for the active version


_FILE_LINE = re.compile(r"^(.*):(\d+)$")
_PARTITION_OFFSET = re.compile(r"^(.*)/(\d+)/(\d+)$")


def source_neighbours(record_id: str, before: int, after: int) -> list[str]:
    """The ids of the lines around a record in its source, itself included: `file:LINE` and
    `topic/partition/OFFSET` ids count along; other ids have no neighbours known by id."""
    m = _PARTITION_OFFSET.match(record_id)
    if m:
        prefix, at = f"{m.group(1)}/{m.group(2)}/", int(m.group(3))
    else:
        m = _FILE_LINE.match(record_id)
        if not m:
            return []
        prefix, at = f"{m.group(1)}:", int(m.group(2))
    return [f"{prefix}{n}" for n in range(max(at - before, 0), at + after + 1)]


class Searcher:
    def __init__(self, config: PipelineConfig, data_dir: str | Path | None = None,
                 version: int | None = None) -> None:
        self.config = config
        self.data_dir = Path(data_dir or config.run.data_dir)
        self.registry = open_registry(config, self.data_dir, patient=False)
        self.redactor = Redactor(config.redact)
        self.parser = Parser(config.parse)
        self.masker = Masker(config.masking)
        self.pinned = version  # search the vectors of this version, not the active one
        self.model: Model | None = None
        self._store: Store | None = None
        self._looked = 0.0
        self._meanings: TemplateMeanings | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.store, self.data_dir)
            self._store.use_model(self.model.model_id if self.model else None)
        return self._store

    def refresh_model(self) -> bool:
        """Load the active version when it changed since we looked (a worker's first fit, an activation);
        True when a model was (re)loaded. A data directory from before the registry is read as it is."""
        if self.pinned is not None:
            if self.model is None:
                self._use(self.registry.load(self.pinned, self.config))
                return True
            return False
        if self.model is not None and time.monotonic() - self._looked < LOOK_INTERVAL_S:
            return False
        self._looked = time.monotonic()
        active = self.registry.active()
        if active is None:
            working = self.data_dir / "model"
            if self.model is None and Model.exists(working) and not Model.read_meta(working).get("model_id"):
                self._use(Model.load(working, self.config))
                return True
            return False
        if self.model is not None and self.model.model_id == active.model_id:
            return False
        self._use(self.registry.load(active.version, self.config))
        return True

    def _use(self, model: Model) -> None:
        self.model = model
        if self._store is not None:
            self._store.use_model(model.model_id)

    def require_model(self) -> Model:
        self.refresh_model()
        if self.model is None:
            raise ModelError(f"no model in {self.registry.describe()} yet: run `logvec fit`, or `logvec run` on "
                             "some logs first")
        return self.model

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None) -> list[Hit]:
        """Stored records nearest to `query`, read as a log line of this pipeline (its header is parsed off),
        among the vectors of the model that vectorizes the query; with `search.meaning`, ranked by the
        pipeline's vectors and the meaning of each hit's template together (see `hybrid`). Hits below
        `search.min_score` are left out: an empty answer means no close match."""
        model = self.model or self.require_model()  # a long-lived caller refreshes it (the API, each request)
        records, _ = self.parser.parse(RawBatch([self.redactor.redact_text(query)], ["query"]))
        message = records.messages[0] if len(records) else query
        vector = model.vectorizer.transform(self.masker.mask([message]))[0]
        c = self.config.search
        if not c.meaning:
            hits = self.store.knn(vector, k=k, filters=filters, message=message)
        else:
            hits = self.hybrid(message, vector, k, filters)
        return [h for h in hits if h.score >= c.min_score]

    @property
    def meanings(self) -> TemplateMeanings:
        if self._meanings is None:
            self._meanings = TemplateMeanings(self.store, self.data_dir / "cache", self.config.search.meaning_model)
        return self._meanings

    def hybrid(self, message: str, vector: np.ndarray, k: int, filters: SearchFilters | None) -> list[Hit]:
        """The pipeline's nearest records, and the records of the templates closest in meaning to the query
        (found by their template's own vector). A hit scores the better of the two closenesses: a pasted line
        is close by the pipeline's vectors, a question in words by meaning; the other breaks ties. When the
        pipeline's best hit reaches `search.lexical_enough` (a pasted line found itself), meaning is not read."""
        model = self.model or self.require_model()
        c = self.config.search
        hits = {h.id: h for h in self.store.knn(vector, k=k, filters=filters, message=message)}
        for h in hits.values():
            h.lexical = h.score
        if hits and max(h.score for h in hits.values()) >= c.lexical_enough:
            return list(hits.values())  # the line found itself: its meaning would add nothing
        meanings = self.meanings
        meanings.refresh()
        q = meanings.query(message)
        scores = meanings.scores(q)
        best = np.argsort(-scores)[:c.meaning_templates] if len(scores) else np.zeros(0, dtype=np.int64)
        templates = [meanings.texts[i] for i in best.tolist() if scores[i] > 0]
        if templates:
            tvecs = model.vectorizer.transform(self.masker.mask(templates))
            for t, tvec in zip(templates, tvecs):
                lexical = float(np.dot(tvec, vector))
                for h in self.store.knn(tvec, k=k, filters=filters):
                    if h.id not in hits:
                        h.lexical = lexical if h.template == t else float(h.score) * lexical
                        hits[h.id] = h
        for h in hits.values():
            h.meaning = round(meanings.of(h.template, scores), 6)
            h.score = max(float(h.lexical or 0.0), h.meaning)
        ranked = sorted(hits.values(), key=lambda h: (-h.score, -min(h.lexical or 0.0, h.meaning or 0.0),
                                                      h.message != message))
        return ranked[:k]

    # ------------------------------------------------------------ incidents
    def incidents(self, since: float | None = None, until: float | None = None, limit: int = 50,
                  min_anomalies: int | None = None) -> list[Incident]:
        """Incidents overlapping [since, until], the latest first, of at least `min_anomalies` (default: the
        pipeline's `incidents.min_anomalies`)."""
        least = self.config.incidents.min_anomalies if min_anomalies is None else min_anomalies
        found = self.store.incidents(since=since, until=until, limit=limit if least <= 1 else max(limit * 20, 1000))
        return [i for i in found if i.anomalies >= least][:limit]

    def incident(self, incident_id: str) -> Incident | None:
        return self.store.incident(incident_id)

    def similar_incidents(self, target: Incident, k: int = 5, past_only: bool = True) -> list[tuple[Incident, float]]:
        """Incidents most like `target` (cosine of signatures within its model version), best first, above
        `incidents.min_similarity`; `past_only`: those that started before it ended."""
        pool = [i for i in self.store.incidents(limit=100_000, signatures=True)
                if not past_only or i.start <= target.end]
        return rank_similar(target, pool, k=k, min_score=self.config.incidents.min_similarity)

    def incident_of_lines(self, lines: list[str]) -> Incident:
        """Pasted lines read as one incident of this pipeline (parsed, masked, templated as the worker does,
        nothing learned), with its signature: what `similar_incidents` compares with the stored ones."""
        model = self.model or self.require_model()
        given = [self.redactor.redact_text(x) for x in lines if x.strip()]
        records, _ = self.parser.parse(RawBatch(given, [f"pasted:{i + 1}" for i in range(len(given))]))
        if not len(records):
            raise ValueError("no log line to compare: the text is empty")
        masked = self.masker.mask(records.messages)
        ts = np.where(np.isnan(records.timestamps), 0.0, records.timestamps)
        members = [Anomaly(rid, float(t), service, None, m, message, ["pasted"])
                   for rid, t, service, m, message in zip(records.ids, ts.tolist(), records.services, masked,
                                                          records.messages)]
        members.sort(key=lambda a: a.ts)
        inc = describe(members, closed=True, top=self.config.incidents.top_templates, model_id=model.model_id)
        inc.id = "pasted"
        inc.signature = signature(members, model.vectorizer, self.masker)
        return inc

    def rebuild_incidents(self) -> list[Incident]:
        """Every incident again from the anomalies in the store (a maintenance write, for `--rebuild`)."""
        model = self.model or self.require_model()
        return self._tracker(model).rebuild()

    def _tracker(self, model: Model) -> IncidentTracker:
        return IncidentTracker(self.config.incidents, self.store, model.vectorizer, self.masker, model.model_id,
                               model.rate)

    def incident_timeline(self, inc: Incident, buckets: int = 60) -> dict[str, Any]:
        """The incident's anomalies by service over its span, in at most `buckets` equal spans (a minute at
        least): what the incident view draws."""
        span = max(inc.end - inc.start, 1.0)
        width = max(60.0, span / buckets)
        n = int(span // width) + 1
        members = self.incident_members(inc)
        series: dict[str, list[int]] = {}
        for a in members:
            series.setdefault(a.service or "(none)", [0] * n)[min(int((a.ts - inc.start) // width), n - 1)] += 1
        return {"since": inc.start, "bucket_seconds": width, "buckets": n, "anomalies": series}

    def incident_members(self, inc: Incident) -> list[Anomaly]:
        """The anomalies of this incident, as grouping gives them again over its span."""
        c = self.config.incidents
        model = self.model or self.require_model()
        anomalies = self._tracker(model).bursts(self.store.anomalies(since=inc.start - c.gap, until=inc.end))
        for members in group(anomalies, c.gap, c.link_window):
            if incident_id(members[0]) == inc.id:
                return members
        return [a for a in anomalies if a.ts >= inc.start]

    def context(self, record_id: str, before: int = 5, after: int = 5) -> dict[str, Any]:
        """A record and the lines around it: from its own source (the file's lines, the partition's offsets)
        when the store has them, else its service's records just before and after it in time."""
        found = self.store.records([record_id])
        if not found:
            raise KeyError(record_id)
        hit = found[0]
        around = source_neighbours(record_id, before, after)
        rows = self.store.records(around) if around else []
        how = "source"
        if not [h for h in rows if h.id != record_id]:
            rows, how = self.store.neighbours(hit, before, after) + [hit], "service"
            rows.sort(key=lambda h: h.timestamp or "")
        return {"record": hit.to_dict(), "by": how, "lines": [h.to_dict() for h in rows]}

    def session_lines(self, key: str, limit: int = 500) -> dict[str, Any]:
        """A scored session and its lines: those of its span that carry its key (a keyed session) or come from
        its service (a time-window session, `service@start`)."""
        row = self.store.session(key)
        if row is None:
            raise KeyError(key)
        first, last = row.get("first_ts"), row.get("last_ts")
        if first is None or last is None:
            return {"session": row, "lines": []}
        windowed = self.config.session is not None and self.config.session.key is None and "@" in key
        service, contains = (key.rsplit("@", 1)[0], None) if windowed else (None, key)
        hits = self.store.lines_between(first, last, service=service, contains=contains, limit=limit)
        if contains:  # the key itself, not a longer one it begins (blk_12 in blk_123)
            whole = re.compile(r"(?<![\w-])" + re.escape(contains) + r"(?!\w)")
            hits = [h for h in hits if whole.search(h.message)]
        return {"session": row, "lines": [h.to_dict() for h in hits]}

    def histogram(self, since: float | None = None, until: float | None = None, buckets: int = 60) -> dict[str, Any]:
        """Lines and anomalies by service over [since, until] (default: the last day the store holds)."""
        if since is None or until is None:
            first, last = self.store.time_range()
            if until is None:
                until = (last + 1e-3) if last is not None else time.time()
            if since is None:
                since = max(until - 86400, first if first is not None else until - 86400)
        if until <= since:
            raise ValueError("until must be after since")
        return self.store.histogram(since, until, buckets)

    # ------------------------------------------------------------ feedback
    def resolve(self, incident_id: str, note: str, by: str) -> Incident:
        """Mark an incident resolved, with a note and who said so."""
        inc = self.store.incident(incident_id)
        if inc is None:
            raise KeyError(incident_id)
        inc.status = "resolved"
        inc.resolution = {"note": note, "by": by, "at": time.time()}
        self.store.upsert_incidents([inc])
        return inc

    def mark_normal(self, by: str, template: str | None = None, incident_id: str | None = None,
                    service: str | None = None, until: float | None = None, note: str = "") -> list[NormalMark]:
        """Mark a template (or each top template of an incident) normal: not flagged from now on (until
        `until`), learned as normal at the next fit."""
        now = time.time()
        if incident_id is not None:
            inc = self.store.incident(incident_id)
            if inc is None:
                raise KeyError(incident_id)
            marks = [NormalMark(t["template"], by, now, service, until, note, incident_id, t.get("example") or "")
                     for t in inc.top_templates]
        elif template:
            marks = [NormalMark(template, by, now, service, until, note, None, template)]
        else:
            raise ValueError("say which template to mark normal: a template's text or an incident")
        self.store.upsert_feedback(marks)
        return marks

    def unmark(self, key: str) -> bool:
        """Take a normal mark back (by its key); False when there is none."""
        if not any(m.key == key for m in self.store.feedback()):
            return False
        self.store.upsert_feedback([], delete=[key])
        return True

    def dead_letters(self) -> int | None:
        """Dead letters written so far; None where this process cannot count them (a Kafka topic)."""
        if dead_letter_place(self.config, self.data_dir).startswith("Kafka topic"):
            return None
        return len(DeadLetterFile(self.data_dir / "dead-letters.jsonl").read())

    def stats(self) -> dict[str, Any]:
        self.refresh_model()
        s = self.store.stats()
        s["model"] = self.model.meta if self.model else None
        s["dead_letters"] = self.dead_letters()
        s["dead_letters_in"] = dead_letter_place(self.config, self.data_dir)
        return s

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self.registry.close()

