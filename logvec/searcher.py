"""The read side: `search`, `stats`, `sessions`, `events` and the API, apart from the write side.

A `Searcher` holds the registry's active model (or a pinned version), the query's redactor, parser and
masker, and a store reader on that model's vectors. It opens no Kafka producer or consumer, so the search
API and `logvec stats` keep working while Kafka is down; dead letters in a Kafka topic are not counted here
(the workers count them: `logvec_dead_letters_total`), and are reported as unknown, never as 0.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from logvec.config import PipelineConfig
from logvec.deadletter import DeadLetterFile
from logvec.masking import Masker
from logvec.model import Model, ModelError
from logvec.parse import Parser
from logvec.pipeline import dead_letter_place
from logvec.records import RawBatch
from logvec.redact import Redactor
from logvec.registry import open_registry
from logvec.store import Hit, SearchFilters, Store, open_store

LOOK_INTERVAL_S = 1.0  # how often, at most, a long-lived searcher asks the registry for the active version


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
        """Nearest stored records to `query`, read as a log line of this pipeline (its header is parsed off),
        among the vectors of the model that vectorizes the query."""
        model = self.model or self.require_model()  # a long-lived caller refreshes it (the API, each request)
        records, _ = self.parser.parse(RawBatch([self.redactor.redact_text(query)], ["query"]))
        message = records.messages[0] if len(records) else query
        vector = model.vectorizer.transform(self.masker.mask([message]))[0]
        return self.store.knn(vector, k=k, filters=filters, message=message)

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

