"""OpenSearch k-NN store: the production backend, shared by every worker replica.

* Index lifecycle: the configured `index` is an alias; documents live in one index per model version,
  `<index>-<model_id>` (`use_model`), whose mapping has a `knn_vector` of that model's dimension, and each
  carries its `model_id`. Vectors of different fits never share an index, even when their dimensions match.
  The alias moves only when a version is activated (`activate_model`), never because a worker fitted; reads
  go to the index of the model the reader loaded. (A store used without a model id keeps the older layout:
  `<index>-d<dim>`, the alias following the dimension.)
* Writes: opensearch-py's `helpers.streaming_bulk`, `_id` = record id (a replay overwrites). Chunks that
  meet 429, 5xx or a connection error are retried with exponential backoff (the index is re-ensured first:
  a server that came back empty gets its mapping again); items refused for good (4xx) come back as dead
  letters. A batch counts as written only when every item is confirmed or dead-lettered; retries exhausted
  raise `StoreUnavailableError`, and the worker does not commit.
* Search: a `knn` query with the filters inside it (lucene, faiss) or around it (nmslib), with the same hit
  shape as the local store.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from logvec.config import OpenSearchBulk, OpenSearchStoreConfig
from logvec.deadletter import DeadLetter
from logvec.records import RecordBatch
from logvec.incidents.feedback import NormalMark
from logvec.incidents.incident import Anomaly, Incident
from logvec.store.base import (
    MAX_ANOMALIES,
    Hit,
    SearchFilters,
    SessionRow,
    StoreDimensionError,
    StoreUnavailableError,
    epoch,
    histogram_series,
    split_kinds,
)
from logvec.vectorize.base import Vectors

if TYPE_CHECKING:
    from logvec.detect.rate import RateEvent

log = logging.getLogger("logvec.opensearch")
RETRY_STATUS = {429, 500, 502, 503, 504}


# fields added to the record mapping since the first release: created with new indices, added to old ones
ADDED_FIELDS = {"model_id": {"type": "keyword"}, "anomaly_kinds": {"type": "keyword"},
                "session_kinds": {"type": "keyword"}, "late_reason": {"type": "text"},
                "late_kinds": {"type": "keyword"}}


def _serializer():
    from opensearchpy.serializer import JSONSerializer

    class NumpySerializer(JSONSerializer):
        """JSON with numpy arrays written straight from their buffers (orjson): a batch's vectors never become
        Python floats, which for 10,000 distinct rows of 4,352 dimensions would take 1.4 GB."""

        def dumps(self, data):
            if isinstance(data, str):
                return data
            try:
                return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            except TypeError:  # what orjson does not write (non-string keys…): the client's own serializer
                return super().dumps(data)

    return NumpySerializer()


def make_client(config: OpenSearchStoreConfig, **kw):
    from opensearchpy import OpenSearch, RequestsHttpConnection

    # the client logs every failed request with a traceback; logvec says each failure once, in one line
    logging.getLogger("opensearch").setLevel(logging.ERROR)

    options: dict = {"hosts": config.hosts, "timeout": config.timeout, "verify_certs": config.tls.verify,
                     "ssl_show_warn": config.tls.verify, "serializer": _serializer()}
    if config.tls.ca_file:
        options["ca_certs"] = config.tls.ca_file
    if config.auth.type == "basic":
        user, password = os.environ.get(config.auth.username_env), os.environ.get(config.auth.password_env)
        if user is None or password is None:
            raise ValueError(f"basic auth: set {config.auth.username_env} and {config.auth.password_env}")
        options["http_auth"] = (user, password)
    elif config.auth.type == "aws_sigv4":
        import boto3
        from opensearchpy import AWSV4SignerAuth

        session = boto3.Session()
        region = config.auth.region or session.region_name
        options.update(http_auth=AWSV4SignerAuth(session.get_credentials(), region, config.auth.service),
                       connection_class=RequestsHttpConnection)
    options.update(kw)
    return OpenSearch(**options)


def score_to_cosine(score: float, space: str) -> float:
    """OpenSearch's k-NN score back to cosine similarity (vectors are unit length)."""
    if space == "cosinesimil":
        return 2.0 * score - 1.0
    if space == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    return 1.0 - (1.0 / score - 1.0) / 2.0  # l2: score = 1 / (1 + d²), d² = 2 - 2cos


def _answering(method):
    """A read whose server does not answer raises StoreUnavailableError naming it, not a transport traceback."""

    @functools.wraps(method)
    def read(self, *args, **kwargs):
        from opensearchpy.exceptions import ConnectionError as OSConnectionError
        from opensearchpy.exceptions import ConnectionTimeout

        try:
            return method(self, *args, **kwargs)
        except (OSConnectionError, ConnectionTimeout) as e:
            raise StoreUnavailableError(f"OpenSearch at {', '.join(self.config.hosts)} does not answer "
                                        f"({type(e).__name__})") from None

    return read


class OpenSearchStore:
    def __init__(self, config: OpenSearchStoreConfig, client=None) -> None:
        self.config = config
        self.client = client or make_client(config)
        self.dim: int | None = None
        self.model_id: str | None = None
        self.retries = 0  # chunk retries so far (observability and tests)

    # ------------------------------------------------------------ index lifecycle
    def use_model(self, model_id: str | None) -> None:
        """Write to and read from the index of this model version (a worker switching versions calls it
        again)."""
        if model_id != self.model_id:
            self.model_id, self.dim = model_id, None

    def index_for(self, dim: int) -> str:
        return f"{self.config.index}-{self.model_id}" if self.model_id else f"{self.config.index}-d{dim}"

    @property
    def target(self) -> str:
        """Where this store's writes, updates and reads go: its model's index, else the alias."""
        return f"{self.config.index}-{self.model_id}" if self.model_id else self.config.index

    def mapping(self, dim: int) -> dict:
        k = self.config.knn
        method = {"name": "hnsw", "engine": k.engine, "space_type": k.space_type,
                  "parameters": {"m": k.m, "ef_construction": k.ef_construction}}
        settings: dict = {"index": {"knn": True, "number_of_shards": self.config.shards,
                                    "number_of_replicas": self.config.replicas,
                                    "refresh_interval": self.config.refresh_interval}}
        if k.engine == "nmslib":
            settings["index"]["knn.algo_param.ef_search"] = k.ef_search
        return {
            "settings": settings,
            "mappings": {"dynamic": "strict", "properties": {
                "vector": {"type": "knn_vector", "dimension": dim, "method": method},
                "timestamp": {"type": "date", "format": "epoch_millis"},
                "service": {"type": "keyword"}, "level": {"type": "keyword"},
                "message": {"type": "text"}, "template": {"type": "keyword"}, "template_id": {"type": "long"},
                "is_anomaly": {"type": "boolean"}, "anomaly_score": {"type": "float"},
                "reason": {"type": "text"}, "session_reason": {"type": "text"}, "flags": {"type": "keyword"},
                **ADDED_FIELDS,
            }},
        }

    def alias_target(self) -> str | None:  # not @_answering: writes retry its connection errors
        from opensearchpy.exceptions import NotFoundError

        try:
            found = self.client.indices.get_alias(name=self.config.index)
        except NotFoundError:
            return None
        return sorted(found)[-1] if found else None

    def _create(self, name: str, dim: int) -> None:
        if not self._create_index(name, self.mapping(dim)):
            self._add_fields(name)

    def ensure_index(self, dim: int) -> str:
        """The index for `dim` (for this model) exists. With a model id, the alias is only created when there
        is none (a cluster that came back empty); without, it follows the dimension."""
        name = self.index_for(dim)
        self._create(name, dim)
        current = self.alias_target()
        if self.model_id and current is not None:
            self.dim = dim
            return name
        if current != name:
            actions = [{"add": {"index": name, "alias": self.config.index, "is_write_index": True}}]
            if current is not None:
                actions.insert(0, {"remove": {"index": current, "alias": self.config.index}})
                log.warning("vector dimension changed: alias %s moves from %s to %s", self.config.index, current, name)
            self.client.indices.update_aliases(body={"actions": actions})
        self.dim = dim
        return name

    def activate_model(self, model_id: str, dim: int) -> str:
        """A model version becomes the one searched through the alias: its index exists, the alias moves.
        Retried as bulk writes are, then `StoreUnavailableError`."""
        return retried(lambda: self._activate(model_id, dim), self.config.bulk,
                       f"OpenSearch at {', '.join(self.config.hosts)} does not answer: model {model_id} is not "
                       "activated")

    def _activate(self, model_id: str, dim: int) -> str:
        name = f"{self.config.index}-{model_id}"
        self._create(name, dim)
        current = self.alias_target()
        if current != name:
            actions = [{"add": {"index": name, "alias": self.config.index, "is_write_index": True}}]
            if current is not None:
                actions.insert(0, {"remove": {"index": current, "alias": self.config.index}})
            self.client.indices.update_aliases(body={"actions": actions})
            log.info("alias %s now points at %s", self.config.index, name)
        return name

    def _add_fields(self, name: str) -> None:
        """An index made by an older logvec lacks the fields added since: add them (a strict mapping refuses
        documents with fields it does not know)."""
        have = self.client.indices.get_mapping(index=name)[name]["mappings"].get("properties", {})
        missing = {k: v for k, v in ADDED_FIELDS.items() if k not in have}
        if missing:
            self.client.indices.put_mapping(index=name, body={"properties": missing})

    def delete(self, model_ids: tuple[str, ...] | list[str] = ()) -> list[str]:
        """Delete the index behind the alias, those of `model_ids`, and the sessions and rate-events indices
        (the models index stays: a worker started later writes its active version's index again)."""
        target = self.alias_target()
        names = list(dict.fromkeys(n for n in [target, *(f"{self.config.index}-{m}" for m in model_ids),
                                               f"{self.config.index}-sessions", f"{self.config.index}-events"]
                                   if n and self.client.indices.exists(index=n)))
        for n in names:
            self.client.indices.delete(index=n, ignore=[404])
        return names

    @_answering
    def info(self) -> dict:
        target = f"{self.config.index}-{self.model_id}" if self.model_id else self.alias_target()
        if target is None:
            return {"alias": self.config.index, "index": None}
        mapping = self.client.indices.get_mapping(index=target)[target]["mappings"]
        return {"alias": self.config.index, "index": target, "count": self.count(),
                "dimension": mapping["properties"]["vector"]["dimension"],
                "knn": mapping["properties"]["vector"].get("method")}

    # ------------------------------------------------------------ writes
    def _doc(self, records: RecordBatch, i: int, vector: np.ndarray | list[float]) -> dict:
        ts = records.timestamps[i]
        n = len(records)
        return {
            "vector": vector,
            "timestamp": None if math.isnan(ts) else int(ts * 1000),
            "service": records.services[i], "level": records.levels[i], "message": records.messages[i],
            "template": records.templates[i] if records.templates else "",
            "template_id": int(records.template_ids[i]) if len(records.template_ids) == n else None,
            "is_anomaly": bool(records.is_anomaly[i]) if len(records.is_anomaly) == n else False,
            "anomaly_score": float(records.scores[i]) if len(records.scores) == n else None,
            "reason": records.reasons[i] if records.reasons else "", "flags": records.flags[i],
            "anomaly_kinds": split_kinds(records.kinds[i]) if records.kinds else [], "model_id": self.model_id,
        }

    def upsert(self, records: RecordBatch, vectors: Vectors) -> list[DeadLetter]:
        """Write the batch; returns the records OpenSearch refused for good (4xx), as dead letters."""
        if len(records) != len(vectors):
            raise ValueError(f"{len(records)} records but {len(vectors)} vectors")
        if not len(records):
            return []
        if self.dim is not None and vectors.dim != self.dim:
            raise StoreDimensionError(f"the store writes {self.dim}-dimensional vectors, these are {vectors.dim}")
        # (a model of another dimension runs in a new process: its first write moves the alias to a new index)
        rows = vectors.rows  # written as JSON from the array itself (the client's serializer): no float objects
        pending = {records.ids[i]: i for i in range(len(records))}
        dead: list[DeadLetter] = []
        b = self.config.bulk
        delay = b.backoff
        last_error = ""
        for attempt in range(b.max_retries + 1):
            retry: dict[str, int] = {}
            try:
                if self.dim != vectors.dim or attempt:  # once, and again after a failure (a server back empty)
                    self.ensure_index(vectors.dim)
                actions = ({"_op_type": "index", "_index": self.target, "_id": rid,
                            "_source": self._doc(records, i, rows[vectors.index[i]])} for rid, i in pending.items())
                from opensearchpy import helpers

                for ok, item in helpers.streaming_bulk(self.client, actions, chunk_size=b.chunk_size,
                                                       raise_on_error=False, raise_on_exception=True,
                                                       max_retries=0, yield_ok=True):
                    res = item.get("index", item)
                    rid = str(res.get("_id"))
                    if ok:
                        continue
                    status = int(res.get("status", 0))
                    if status in RETRY_STATUS:
                        retry[rid] = pending[rid]
                        last_error = f"status {status}"
                    else:
                        err = res.get("error", {})
                        why = err.get("reason", str(err)) if isinstance(err, dict) else str(err)
                        dead.append(DeadLetter(rid, f"opensearch refused the document ({status}): {why}",
                                               records.messages[pending[rid]]))
            except Exception as e:  # noqa: BLE001 - connection errors, 5xx, 429 on the whole request
                if not _retryable(e):
                    raise
                retry = pending
                last_error = f"{type(e).__name__}: {str(e)[:200]}"
                if attempt < b.max_retries:
                    log.warning("bulk write failed (%s); retry %d/%d in %.1fs", last_error, attempt + 1,
                                b.max_retries, delay)
            if not retry:
                return dead
            pending = retry
            if attempt < b.max_retries:
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, b.max_backoff)
        raise StoreUnavailableError(
            f"OpenSearch at {', '.join(self.config.hosts)} did not confirm {len(pending)} documents after "
            f"{b.max_retries} retries (last: {last_error}); nothing of this batch is committed")

    def upsert_sessions(self, rows: list[SessionRow]) -> None:
        if not rows:
            return
        from opensearchpy import helpers

        index = f"{self.config.index}-sessions"
        actions = [{"_op_type": "index", "_index": index, "_id": r.key, "_source": {
            "key": r.key, "first_ts": None if math.isnan(r.first_ts) else int(r.first_ts * 1000),
            "last_ts": None if math.isnan(r.last_ts) else int(r.last_ts * 1000), "lines": len(r.record_ids),
            "is_anomaly": r.is_anomaly, "anomaly_score": r.score, "reason": r.reason}} for r in rows]
        for r in rows:
            if r.is_anomaly:
                kinds = ["session"] + split_kinds(r.kinds)
                actions += [{"_op_type": "update", "_index": self.target, "_id": rid,
                             "doc": {"is_anomaly": True, "session_reason": f"session {r.key}: {r.reason}",
                                     "session_kinds": kinds}}
                            for rid in r.record_ids]
        helpers.bulk(self.client, actions, chunk_size=self.config.bulk.chunk_size,
                     max_retries=self.config.bulk.max_retries)

    def flag_records(self, rows: list[tuple[str, str]], kind: str) -> None:
        """Flag stored records after the fact, (id, reason) each (a storm window's records read before the
        storm showed): partial updates that leave the record's own reason and kinds as they are."""
        if not rows:
            return
        from opensearchpy import helpers

        actions = [{"_op_type": "update", "_index": self.target, "_id": rid,
                    "doc": {"is_anomaly": True, "late_reason": why, "late_kinds": [kind]}} for rid, why in rows]
        helpers.bulk(self.client, actions, chunk_size=self.config.bulk.chunk_size,
                     max_retries=self.config.bulk.max_retries)

    def upsert_rate_events(self, events: list[RateEvent]) -> None:
        """Rate storms and drops in `INDEX-events`, one document per (kind, service, template, window)."""
        if not events:
            return
        from opensearchpy import helpers

        index = f"{self.config.index}-events"
        actions = [{"_op_type": "index", "_index": index, "_id": e.key,
                    "_source": e.to_dict() | {"window_start": int(e.window_start * 1000)}} for e in events]
        helpers.bulk(self.client, actions, chunk_size=self.config.bulk.chunk_size,
                     max_retries=self.config.bulk.max_retries)

    @_answering
    def rate_events(self, kind: str | None = None, limit: int = 100) -> list[dict]:
        query = {"term": {"kind": kind}} if kind else {"match_all": {}}
        res = self.client.search(index=f"{self.config.index}-events", ignore=[404], body={
            "size": limit, "query": query, "sort": [{"window_start": "desc"}]})
        out = []
        for h in res.get("hits", {}).get("hits", []):
            e = dict(h["_source"])
            e["window_start"] = e["window_start"] / 1000.0
            out.append(e)
        return out

    @_answering
    def sessions(self, anomalies_only: bool = False, limit: int = 100) -> list[dict]:
        query = {"term": {"is_anomaly": True}} if anomalies_only else {"match_all": {}}
        res = self.client.search(index=f"{self.config.index}-sessions", ignore=[404], body={
            "size": limit, "query": query, "sort": [{"anomaly_score": "desc"}]})
        return [h["_source"] for h in res.get("hits", {}).get("hits", [])]

    @_answering
    def session(self, key: str) -> dict | None:
        res = self.client.search(index=f"{self.config.index}-sessions", ignore=[404], body={
            "size": 1, "query": {"ids": {"values": [key]}}})
        hits = res.get("hits", {}).get("hits", [])
        if not hits:
            return None
        row = dict(hits[0]["_source"])
        for name in ("first_ts", "last_ts"):
            row[name] = row[name] / 1000.0 if row.get(name) is not None else None
        return row

    @_answering
    def lines_between(self, since: float, until: float, service: str | None = None, contains: str | None = None,
                      limit: int = 500) -> list[Hit]:
        """Records with a time in [since, until], of `service`, whose message holds `contains` (a phrase),
        in time order."""
        clauses: list[dict] = [{"range": {"timestamp": {"gte": int(math.floor(since * 1000)),
                                                        "lte": int(math.ceil(until * 1000))}}}]
        if service is not None:
            clauses.append({"term": {"service": service}})
        if contains:
            clauses.append({"match_phrase": {"message": contains}})
        res = self.client.search(index=self.target, ignore=[404], body={
            "size": min(limit, 10_000), "query": {"bool": {"filter": clauses}}, "sort": [{"timestamp": "asc"}],
            "_source": {"excludes": ["vector"]}})
        return self._hits(res)

    # ------------------------------------------------------------ incidents
    def incidents_index(self, model_id: str | None) -> str:
        """A model version's incidents: one index per version, as its signatures are that version's vectors."""
        return f"{self.config.index}-incidents-{model_id or 'unversioned'}"

    def incidents_mapping(self, dim: int) -> dict:
        k = self.config.knn
        return {"settings": {"index": {"knn": True, "number_of_shards": 1,
                                       "number_of_replicas": self.config.replicas}},
                "mappings": {"dynamic": "strict", "properties": {
                    "signature": {"type": "knn_vector", "dimension": dim, "method": {
                        "name": "hnsw", "engine": k.engine, "space_type": k.space_type,
                        "parameters": {"m": k.m, "ef_construction": k.ef_construction}}},
                    "start": {"type": "date", "format": "epoch_millis"},
                    "end": {"type": "date", "format": "epoch_millis"},
                    "status": {"type": "keyword"}, "model_id": {"type": "keyword"},
                    "services": {"type": "keyword"}, "summary": {"type": "text"},
                    "doc": {"type": "object", "enabled": False}}}}

    @_answering
    def anomalies(self, since: float | None = None, until: float | None = None,
                  limit: int = MAX_ANOMALIES) -> list[Anomaly]:
        """Anomalous records with a time in [since, until] (pages of 10,000 along the time, the cluster's
        result window), and rate drops, in time order."""
        self.client.indices.refresh(index=self.target, ignore=[404])  # the batch just written, flags included
        out: list[Anomaly] = []
        seen: set[str] = set()
        lo = since
        while len(out) < limit:
            rng: dict = {}
            if lo is not None:
                rng["gte"] = int(math.floor(lo * 1000))
            if until is not None:
                rng["lte"] = int(math.ceil(until * 1000))
            clauses: list[dict] = [{"term": {"is_anomaly": True}}, {"exists": {"field": "timestamp"}}]
            if rng:
                clauses.append({"range": {"timestamp": rng}})
            size = min(10_000, limit - len(out))
            res = self.client.search(index=self.target, ignore=[404], body={
                "size": size, "query": {"bool": {"filter": clauses}}, "sort": [{"timestamp": "asc"}],
                "_source": {"excludes": ["vector"]}})
            hits = res.get("hits", {}).get("hits", [])
            fresh = [h for h in hits if h["_id"] not in seen]
            for h in fresh:
                src = h["_source"]
                seen.add(h["_id"])
                kinds = (src.get("anomaly_kinds") or []) + (src.get("session_kinds") or []) + (
                    src.get("late_kinds") or [])
                out.append(Anomaly(h["_id"], src["timestamp"] / 1000.0, src.get("service") or "",
                                   src.get("template_id"), src.get("template") or "", src.get("message") or "",
                                   list(dict.fromkeys(kinds)), src.get("anomaly_score")))
            if len(hits) < size or not fresh:
                break
            lo = hits[-1]["_source"]["timestamp"] / 1000.0
        drops = [e for e in self.rate_events(kind="drop", limit=10_000)
                 if (since is None or e["window_start"] >= since) and (until is None or e["window_start"] <= until)]
        out += [Anomaly(f"event:drop|{e['service']}|{e['template_id']}|{e['window_start']:.0f}", e["window_start"],
                        e.get("service") or "", e.get("template_id"), e.get("template") or "",
                        f"{e['observed']} lines of {e.get('template')!r} in {e['window_seconds']:g}s, expected "
                        f"{e['expected']:.3g}", ["rate_drop"]) for e in drops]
        out.sort(key=lambda a: (a.ts, a.id))
        return out

    def upsert_incidents(self, incidents: list[Incident], delete: list[str] | tuple[str, ...] = ()) -> None:
        """Each incident into its model version's incidents index; `delete` from this store's model's."""
        if not incidents and not delete:
            return
        indices = {}
        for inc in incidents:
            name = self.incidents_index(inc.model_id)
            if name not in indices and inc.signature is not None:
                self._create_index(name, self.incidents_mapping(len(inc.signature)))
            indices[name] = True
        actions: list[dict] = [{"_op_type": "delete", "_index": self.incidents_index(self.model_id), "_id": i}
                               for i in delete]
        actions += [{"_op_type": "index", "_index": self.incidents_index(i.model_id), "_id": i.id, "_source": {
            "start": int(i.start * 1000), "end": int(i.end * 1000), "status": i.status, "model_id": i.model_id,
            "services": list(i.services), "summary": i.summary, "doc": i.to_doc(),
            **({"signature": [float(x) for x in i.signature]} if i.signature is not None else {})}}
            for i in incidents]
        self._bulk(actions, f"{len(incidents)} incidents are not written")
        for name in indices:
            self.client.indices.refresh(index=name, ignore=[404])

    def _create_index(self, name: str, body: dict) -> bool:
        """Create the index unless it exists; False when it was there already (made by an older release, or
        meanwhile by another worker)."""
        if self.client.indices.exists(index=name):
            return False
        from opensearchpy.exceptions import RequestError

        try:
            self.client.indices.create(index=name, body=body)
        except RequestError as e:  # created meanwhile by another worker
            if "resource_already_exists" not in str(e):
                raise
        return True

    def _bulk(self, actions: list[dict], what: str) -> None:
        """A small bulk write (incidents, feedback), retried as the records' are; deleting what is already gone
        is not an error."""
        from opensearchpy import helpers

        _, errors = retried(
            lambda: helpers.bulk(self.client, actions, chunk_size=self.config.bulk.chunk_size, raise_on_error=False),
            self.config.bulk, f"OpenSearch at {', '.join(self.config.hosts)} does not answer: {what}")
        refused = [e for e in errors if e.get("delete", {}).get("status") != 404]
        if refused:
            raise StoreUnavailableError(f"OpenSearch refused a write ({what}): {refused[0]}")

    def upsert_feedback(self, marks: list[NormalMark], delete: list[str] | tuple[str, ...] = ()) -> None:
        index = f"{self.config.index}-feedback"
        body: dict[str, Any] = {
            "settings": {"index": {"number_of_shards": 1, "number_of_replicas": self.config.replicas}},
            "mappings": {"dynamic": "strict", "properties": {"doc": {"type": "object", "enabled": False}}}}
        self._create_index(index, body)
        actions: list[dict] = [{"_op_type": "delete", "_index": index, "_id": k} for k in delete]
        actions += [{"_op_type": "index", "_index": index, "_id": m.key, "_source": {"doc": m.to_dict()}}
                    for m in marks]
        self._bulk(actions, "feedback is not written")
        self.client.indices.refresh(index=index, ignore=[404])

    @_answering
    def feedback(self) -> list[NormalMark]:
        res = self.client.search(index=f"{self.config.index}-feedback", ignore=[404],
                                 body={"size": 10_000, "query": {"match_all": {}}})
        return [NormalMark.from_dict(h["_source"]["doc"]) for h in res.get("hits", {}).get("hits", [])]

    def delete_incidents(self) -> int:
        names = self._incident_indices()
        n = sum(int(self.client.count(index=name, ignore=[404]).get("count", 0)) for name in names)
        for name in names:
            self.client.indices.delete(index=name, ignore=[404])
        return n

    def _incident_indices(self) -> list[str]:
        found = self.client.indices.get(index=f"{self.config.index}-incidents-*", ignore=[404])
        return sorted(k for k in found if k.startswith(f"{self.config.index}-incidents-")) if found else []

    @_answering
    def incidents(self, since: float | None = None, until: float | None = None, limit: int = 100,
                  signatures: bool = False) -> list[Incident]:
        """Incidents of every model version overlapping [since, until], the latest first."""
        names = self._incident_indices()
        if not names:
            return []
        clauses: list[dict] = []
        if since is not None:
            clauses.append({"range": {"end": {"gte": int(math.floor(since * 1000))}}})
        if until is not None:
            clauses.append({"range": {"start": {"lte": int(math.ceil(until * 1000))}}})
        res = self.client.search(index=",".join(names), ignore=[404], body={
            "size": min(limit, 10_000), "query": {"bool": {"filter": clauses}} if clauses else {"match_all": {}},
            "sort": [{"start": "desc"}], "_source": True if signatures else {"excludes": ["signature"]}})
        return [Incident.from_doc(h["_source"]["doc"], h["_source"].get("signature") if signatures else None)
                for h in res.get("hits", {}).get("hits", [])]

    @_answering
    def incident(self, incident_id: str) -> Incident | None:
        names = self._incident_indices()
        if not names:
            return None
        res = self.client.search(index=",".join(names), ignore=[404], body={
            "size": 1, "query": {"ids": {"values": [incident_id]}}})
        hits = res.get("hits", {}).get("hits", [])
        return Incident.from_doc(hits[0]["_source"]["doc"], hits[0]["_source"].get("signature")) if hits else None

    # ------------------------------------------------------------ records around a hit
    def _hits(self, res: dict) -> list[Hit]:
        out = []
        for h in res.get("hits", {}).get("hits", []):
            src = h.get("_source") or {}
            ts = src.get("timestamp")
            reason = " | ".join(x for x in (src.get("reason"), src.get("session_reason"), src.get("late_reason")) if x)
            kinds = ",".join((src.get("anomaly_kinds") or []) + (src.get("session_kinds") or [])
                             + (src.get("late_kinds") or []))
            out.append(Hit.from_row((h["_id"], ts / 1000.0 if ts is not None else None, src.get("service"),
                                     src.get("level"), src.get("message"), src.get("template"),
                                     src.get("template_id"), src.get("is_anomaly"), src.get("anomaly_score"),
                                     reason, src.get("flags"), kinds),
                                    score_to_cosine(float(h["_score"]), self.config.knn.space_type)
                                    if h.get("_score") is not None else 0.0, model_id=src.get("model_id")))
        return out

    @_answering
    def time_range(self) -> tuple[float | None, float | None]:
        """The first and last record time stored."""
        res = self.client.search(index=self.target, ignore=[404], body={
            "size": 0, "aggs": {"lo": {"min": {"field": "timestamp"}}, "hi": {"max": {"field": "timestamp"}}}})
        aggs = res.get("aggregations", {})
        lo, hi = aggs.get("lo", {}).get("value"), aggs.get("hi", {}).get("value")
        return (lo / 1000.0 if lo is not None else None, hi / 1000.0 if hi is not None else None)

    @_answering
    def template_texts(self) -> list[str]:
        """Every distinct template text stored (a terms aggregation, 10,000 at most)."""
        res = self.client.search(index=self.target, ignore=[404], body={
            "size": 0, "aggs": {"t": {"terms": {"field": "template", "size": 10_000}}}})
        return [b["key"] for b in res.get("aggregations", {}).get("t", {}).get("buckets", [])]

    @_answering
    def records(self, ids: list[str]) -> list[Hit]:
        """The stored records of these ids (those there are), in the order asked."""
        if not ids:
            return []
        res = self.client.search(index=self.target, ignore=[404], body={
            "size": len(ids), "query": {"ids": {"values": ids}}, "_source": {"excludes": ["vector"]}})
        found = {h.id: h for h in self._hits(res)}
        return [found[i] for i in ids if i in found]

    @_answering
    def neighbours(self, hit: Hit, before: int, after: int) -> list[Hit]:
        """The records of the same service just before and after `hit` in time, in time order."""
        ts = epoch(hit.timestamp)
        if ts is None:
            return []
        out: list[Hit] = []
        for op, order, n in (("lte", "desc", before), ("gte", "asc", after)):
            res = self.client.search(index=self.target, ignore=[404], body={
                "size": n + 1, "_source": {"excludes": ["vector"]}, "sort": [{"timestamp": order}],
                "query": {"bool": {"filter": [{"term": {"service": hit.service}},
                                              {"range": {"timestamp": {op: int(round(ts * 1000))}}}]}}})
            out += [h for h in self._hits(res) if h.id != hit.id][:n]
        return sorted(out, key=lambda h: h.timestamp or "")

    @_answering
    def histogram(self, since: float, until: float, buckets: int) -> dict[str, Any]:
        """Lines and anomalies per service in `buckets` equal spans of [since, until] (one aggregation)."""
        since_ms, until_ms = int(math.floor(since * 1000)), int(math.ceil(until * 1000))
        width_ms = max(math.ceil((until_ms - since_ms) / buckets), 1)
        res = self.client.search(index=self.target, ignore=[404], body={
            "size": 0, "query": {"range": {"timestamp": {"gte": since_ms, "lt": until_ms}}},
            "aggs": {"t": {"histogram": {"field": "timestamp", "interval": width_ms, "offset": since_ms % width_ms,
                                         "min_doc_count": 1},
                           "aggs": {"s": {"terms": {"field": "service", "size": 100},
                                          "aggs": {"bad": {"filter": {"term": {"is_anomaly": True}}}}}}}}})
        rows = [(int((b["key"] - since_ms) // width_ms), s["key"], s["doc_count"], s["bad"]["doc_count"])
                for b in res.get("aggregations", {}).get("t", {}).get("buckets", [])
                for s in b.get("s", {}).get("buckets", [])]
        return histogram_series(rows, since_ms / 1000.0, width_ms / 1000.0, buckets)

    # ------------------------------------------------------------ reads
    @_answering
    def count(self) -> int:
        self.client.indices.refresh(index=self.target, ignore=[404])
        res = self.client.count(index=self.target, ignore=[404])
        return int(res.get("count", 0))

    @_answering
    def stats(self) -> dict:
        n = self.count()
        anomalies = self.client.count(index=self.target, ignore=[404],
                                      body={"query": {"term": {"is_anomaly": True}}}).get("count", 0)
        aggs = self.client.search(index=self.target, ignore=[404], body={
            "size": 0, "aggs": {"templates": {"cardinality": {"field": "template_id"}}}})
        templates = aggs.get("aggregations", {}).get("templates", {}).get("value", 0)
        events = self.client.count(index=f"{self.config.index}-events", ignore=[404]).get("count", 0)
        return {"records": n, "templates": templates, "anomalies": anomalies, "sessions": None,
                "session_anomalies": None, "rate_events": events, "distinct_vectors": None, "dim": self.dim,
                "model_id": self.model_id, "path": f"{self.config.hosts[0]}/{self.target}"}

    def filter_clauses(self, f: SearchFilters) -> list[dict]:
        clauses: list[dict] = []
        if f.service:
            clauses.append({"term": {"service": f.service}})
        if f.level:
            clauses.append({"term": {"level": f.level.upper()}})
        if f.since is not None or f.until is not None:
            rng = {}
            if f.since is not None:
                rng["gte"] = int(f.since * 1000)
            if f.until is not None:
                rng["lte"] = int(f.until * 1000)
            clauses.append({"range": {"timestamp": rng}})
        if f.anomalies_only or f.kind:
            clauses.append({"term": {"is_anomaly": True}})
        if f.kind:
            clauses.append({"bool": {"should": [{"term": {name: f.kind}} for name in
                                                ("anomaly_kinds", "session_kinds", "late_kinds")],
                                     "minimum_should_match": 1}})
        return clauses

    def knn_query(self, vector: np.ndarray, k: int, filters: SearchFilters | None = None) -> dict:
        """The exact request body of a filtered k-NN search."""
        clauses = self.filter_clauses(filters or SearchFilters())
        knn: dict = {"vector": [float(x) for x in np.asarray(vector, dtype=np.float32)], "k": k}
        source = {"excludes": ["vector"]}
        if self.config.knn.engine == "lucene" or self.config.knn.engine == "faiss":
            if clauses:
                knn["filter"] = {"bool": {"filter": clauses}}
            body = {"size": k, "_source": source, "query": {"knn": {"vector": knn}}}
        else:  # nmslib: no efficient filtering; filter after a wider k-NN
            if clauses:
                knn["k"] = k * 10
                body = {"size": k, "_source": source,
                        "query": {"bool": {"must": [{"knn": {"vector": knn}}], "filter": clauses}}}
            else:
                body = {"size": k, "_source": source, "query": {"knn": {"vector": knn}}}
        if self.config.knn.engine == "faiss":
            knn["method_parameters"] = {"ef_search": self.config.knn.ef_search}
        return body

    @_answering
    def knn(self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None,
            message: str | None = None) -> list[Hit]:
        res = self.client.search(index=self.target, body=self.knn_query(vector, k, filters))
        hits = self._hits(res)
        # ties: the record whose message equals the query's first, as in the local store
        hits.sort(key=lambda h: (-round(h.score, 5), h.message != (message or "")))
        return hits

    def close(self) -> None:
        self.client.close()


def retried(fn, bulk: OpenSearchBulk, what: str, retryable=None):
    """`fn()`, retried on connection errors, 429 and 5xx with `bulk`'s backoff; when the retries run out,
    `StoreUnavailableError` saying `what` did not happen. `retryable(e)`: which errors (default `_retryable`)."""
    retryable = retryable or _retryable
    delay = bulk.backoff
    for attempt in range(bulk.max_retries + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - only what `retryable` names is retried
            if not retryable(e):
                raise
            if attempt == bulk.max_retries:
                raise StoreUnavailableError(f"{what} ({type(e).__name__})") from None
            log.warning("%s (%s); retry %d/%d in %.1fs", what, type(e).__name__, attempt + 1, bulk.max_retries,
                        delay)
            time.sleep(delay)
            delay = min(delay * 2, bulk.max_backoff)
    raise AssertionError("unreachable")


def _retryable(e: Exception) -> bool:
    from opensearchpy.exceptions import ConnectionError as OSConnectionError
    from opensearchpy.exceptions import ConnectionTimeout, TransportError

    if isinstance(e, (OSConnectionError, ConnectionTimeout)):
        return True
    if isinstance(e, TransportError):
        return isinstance(e.status_code, int) and e.status_code in RETRY_STATUS
    return False

