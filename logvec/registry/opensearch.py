"""A registry in OpenSearch (`INDEX-models`, beside the records): a fleet needs nothing more than its store.

Documents, each with a `kind`:
* `chunk-<model_id>-<n>` — the pickled model in base64 chunks (`CHUNK_BYTES` each), as OpenSearch ML
  Commons stores models: a document stays far below the cluster's request limit.
* `version-<n>` — a version: number, model id, chunk count, sha-256 of the whole, metadata. Written after its
  chunks, with `op_type=create`: two publishers never take one number, and a version is never half there.
* `active` — the active version.
* `lease-fit` — the fit lease: created only if absent, with an expiry its holder renews every third of
  `registry.lease_ttl`; a lapsed lease is taken over with a compare-and-set on its sequence number, so two
  workers cannot both take it.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING

from logvec.config import OpenSearchStoreConfig, PipelineConfig, RegistryConfig
from logvec.registry import ModelVersion, RegistryError
from logvec.registry.directory import content_id, utc_now
from logvec.store.opensearch import retried

if TYPE_CHECKING:
    from logvec.model import Model

log = logging.getLogger("logvec.registry")
CHUNK_BYTES = 4 * 1024 * 1024

MAPPING = {"settings": {"index": {"number_of_shards": 1}},
           "mappings": {"dynamic": "strict", "properties": {
               "kind": {"type": "keyword"}, "model_id": {"type": "keyword"}, "version": {"type": "long"},
               "seq": {"type": "integer"}, "chunks": {"type": "integer"}, "size": {"type": "long"},
               "sha256": {"type": "keyword"}, "data": {"type": "binary"},
               "meta": {"type": "object", "enabled": False}, "created": {"type": "keyword"},
               "by": {"type": "keyword"}, "holder": {"type": "keyword"}, "expires": {"type": "long"}}}}


class OpenSearchLease:
    def __init__(self, registry: OpenSearchRegistry, holder: str, ttl: float) -> None:
        self.registry, self.holder, self.ttl = registry, holder, ttl
        self._seq: tuple[int, int] | None = None  # (seq_no, primary_term) of our lease document
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False  # renewal found another holder: our fit is no longer the fleet's

    def _body(self) -> dict:
        return {"kind": "lease", "holder": self.holder, "expires": int((time.time() + self.ttl) * 1000)}

    def try_acquire(self) -> bool:
        from opensearchpy.exceptions import ConflictError, NotFoundError

        client, index = self.registry.client, self.registry.index
        self.registry.ensure()
        try:
            r = client.create(index=index, id="lease-fit", body=self._body(), refresh=True)
        except ConflictError:
            try:
                held = client.get(index=index, id="lease-fit")
            except NotFoundError:  # released this instant: try again next time
                return False
            if held["_source"]["expires"] > time.time() * 1000:
                return False
            try:  # lapsed: take it over, unless someone else just did
                r = client.index(index=index, id="lease-fit", body=self._body(), refresh=True,
                                 if_seq_no=held["_seq_no"], if_primary_term=held["_primary_term"])
            except ConflictError:
                return False
            log.warning("the fit lease of %s lapsed; %s takes it over", held["_source"].get("holder"), self.holder)
        self._seq = (r["_seq_no"], r["_primary_term"])
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="logvec-lease", daemon=True)
        self._renewer.start()
        return True

    def _renew_loop(self) -> None:
        from opensearchpy.exceptions import ConflictError, NotFoundError

        while not self._stop.wait(self.ttl / 3):
            if self._seq is None:
                return
            try:
                r = self.registry.client.index(index=self.registry.index, id="lease-fit", body=self._body(),
                                               if_seq_no=self._seq[0], if_primary_term=self._seq[1])
                self._seq = (r["_seq_no"], r["_primary_term"])
            except (ConflictError, NotFoundError):
                self.lost = True
                log.error("the fit lease was taken over by another worker (this one stalled past %ss)", self.ttl)
                return
            except Exception as e:  # noqa: BLE001 - a blip: the next renewal tries again, the ttl allows two
                log.warning("renewing the fit lease failed (%s)", type(e).__name__)

    def release(self) -> None:
        from opensearchpy.exceptions import ConflictError, NotFoundError

        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        if self._seq is None:
            return
        try:
            self.registry.client.delete(index=self.registry.index, id="lease-fit", refresh=True,
                                        if_seq_no=self._seq[0], if_primary_term=self._seq[1])
        except (ConflictError, NotFoundError):
            pass
        except Exception as e:  # noqa: BLE001 - it lapses by itself
            log.warning("releasing the fit lease failed (%s); it lapses in %ss", type(e).__name__, self.ttl)
        self._seq = None


class OpenSearchRegistry:
    def __init__(self, store: OpenSearchStoreConfig, config: RegistryConfig, client=None,
                 patient: bool = True) -> None:
        """`patient`: retry connection errors as bulk writes do (a worker); else report the first (a reader,
        whose caller is waiting)."""
        from logvec.store.opensearch import make_client

        self.config = config
        self.hosts = store.hosts
        self.retry = store.bulk if patient else store.bulk.model_copy(update={"max_retries": 0})
        self.index = config.index or f"{store.index}-models"
        self.client = client or make_client(store)
        self._ensured = False

    def describe(self) -> str:
        return f"{self.hosts[0]}/{self.index}"

    def _call(self, fn, *args, **kwargs):
        """A request, retried on connection errors as bulk writes are (`store.bulk`), then reported."""
        from opensearchpy.exceptions import ConnectionError as OSConnectionError
        from opensearchpy.exceptions import ConnectionTimeout

        return retried(lambda: fn(*args, **kwargs), self.retry,
                       f"the model registry in OpenSearch at {', '.join(self.hosts)} does not answer",
                       retryable=lambda e: isinstance(e, (OSConnectionError, ConnectionTimeout)))

    def ensure(self) -> None:
        if self._ensured:
            return
        from opensearchpy.exceptions import RequestError

        if not self._call(self.client.indices.exists, index=self.index):
            try:
                self._call(self.client.indices.create, index=self.index, body=MAPPING)
            except RequestError as e:  # created meanwhile by another worker
                if "resource_already_exists" not in str(e):
                    raise
        self._ensured = True

    def _search(self, query: dict, size: int = 10_000, source=None) -> list[dict]:
        res = self._call(self.client.search, index=self.index, ignore=[404],
                         body={"size": size, "query": query, **({"_source": source} if source else {})})
        return res.get("hits", {}).get("hits", [])

    def _get(self, doc_id: str) -> dict | None:
        res = self._call(self.client.get, index=self.index, id=doc_id, ignore=[404])
        return res["_source"] if res.get("found") else None

    def _version(self, src: dict, active: int | None) -> ModelVersion:
        return ModelVersion(int(src["version"]), src["model_id"], src.get("created", ""),
                            int(src["version"]) == active, src.get("meta") or {})

    def _active_number(self) -> int | None:
        src = self._get("active")
        return int(src["version"]) if src else None

    def versions(self) -> list[ModelVersion]:
        active = self._active_number()
        hits = self._search({"term": {"kind": "version"}}, source={"excludes": ["data"]})
        return sorted((self._version(h["_source"], active) for h in hits), key=lambda v: v.version)

    def active(self) -> ModelVersion | None:
        n = self._active_number()
        if n is None:
            return None
        src = self._get(f"version-{n}")
        if src is None:
            raise RegistryError(f"{self.describe()}: the active version {n} has no document")
        return self._version(src, n)

    def publish(self, model: Model, activate: bool = False, by: str = "") -> ModelVersion:
        from opensearchpy import helpers
        from opensearchpy.exceptions import ConflictError

        self.ensure()
        data = model.to_bytes()
        model_id = content_id(data)
        for v in self.versions():
            if v.model_id == model_id:
                model.meta.update(model_id=model_id, version=v.version)
                return self.set_active(v.version, by) if activate else v
        chunks = [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
        actions = [{"_op_type": "index", "_index": self.index, "_id": f"chunk-{model_id}-{n}",
                    "_source": {"kind": "chunk", "model_id": model_id, "seq": n,
                                "data": base64.b64encode(chunk).decode()}} for n, chunk in enumerate(chunks)]
        self._call(helpers.bulk, self.client, actions, chunk_size=1, max_retries=3, refresh=True)
        published = utc_now()
        while True:
            version = max([v.version for v in self.versions()] or [0]) + 1
            meta = {**model.meta, "model_id": model_id, "version": version, "published": published,
                    "published_by": by}
            doc = {"kind": "version", "version": version, "model_id": model_id, "chunks": len(chunks),
                   "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "created": published,
                   "by": by, "meta": meta}
            try:
                self._call(self.client.create, index=self.index, id=f"version-{version}", body=doc, refresh=True)
                break
            except ConflictError:  # another publisher took this number
                continue
        model.meta.update(model_id=model_id, version=version, published=published)
        if activate:
            return self.set_active(version, by)
        return ModelVersion(version, model_id, published, False, meta)

    def load(self, version: int | None = None, config: PipelineConfig | None = None) -> Model:
        from logvec.model import Model, ModelError

        if version is None:
            version = self._active_number()
            if version is None:
                raise ModelError(f"no active model in {self.describe()}: run `logvec fit` or `logvec run` first")
        src = self._get(f"version-{version}")
        if src is None:
            raise RegistryError(f"no version {version} in {self.describe()} (`logvec model list`)")
        ids = [f"chunk-{src['model_id']}-{n}" for n in range(int(src["chunks"]))]
        docs = self._call(self.client.mget, index=self.index, body={"ids": ids})["docs"]
        missing = [d["_id"] for d in docs if not d.get("found")]
        where = f"version {version} in {self.describe()}"
        if missing:
            raise ModelError(f"{where} is damaged: chunk {missing[0]} is missing; refit it with `logvec fit`")
        data = b"".join(base64.b64decode(d["_source"]["data"]) for d in docs)
        if hashlib.sha256(data).hexdigest() != src["sha256"]:
            raise ModelError(f"{where} is damaged: its chunks do not add up to what was published")
        return Model.from_bytes(data, src["meta"], config, where=where)

    def set_active(self, version: int, by: str = "") -> ModelVersion:
        self.ensure()
        src = self._get(f"version-{version}")
        if src is None:
            raise RegistryError(f"no version {version} in {self.describe()} (`logvec model list`)")
        self._call(self.client.index, index=self.index, id="active", refresh=True,
                   body={"kind": "active", "version": version, "model_id": src["model_id"], "created": utc_now(),
                         "by": by})
        return self._version(src, version)

    def lease(self, holder: str) -> OpenSearchLease:
        return OpenSearchLease(self, holder, self.config.lease_ttl)

    def close(self) -> None:
        self.client.close()
