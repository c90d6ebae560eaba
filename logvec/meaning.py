"""What each distinct template means, read by the bundled sentence model: search by meaning with any vectorizer.

A tf-idf or word2vec pipeline matches words, so "the disk is full" never meets "No space left on device". The
stored lines have a few thousand distinct templates, so the sentence model reads each template once (a few
seconds on a CPU for thousands), the readings are kept on disk by template text, and only templates that appear
later are read then. A query is read once per search (milliseconds) and compared with every template at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from logvec.store import StoreReader

log = logging.getLogger("logvec.meaning")
REFRESH_S = 30.0  # how often, at most, the store is asked for templates that appeared since


class TemplateMeanings:
    def __init__(self, store: StoreReader, cache_dir: Path | None, model: str = "all-MiniLM-L6-v2") -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.model = model
        self.texts: list[str] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self._row: dict[str, int] = {}
        self._encoder: Any = None  # the sentence model, loaded at the first reading
        self._looked = -np.inf
        self._unwritable = False

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            from logvec.vectorize.sentence import SentenceVectorizer

            self._encoder = SentenceVectorizer(self.model, device="auto").fit()
        return np.asarray(self._encoder.transform(texts), dtype=np.float32)

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        name = hashlib.sha256(self.model.encode()).hexdigest()[:12]
        return self.cache_dir / f"template-meanings-{name}.npz"

    def refresh(self) -> int:
        """Read the templates the store holds that were not read yet; returns how many were new."""
        if time.monotonic() - self._looked < REFRESH_S:
            return 0
        self._looked = time.monotonic()
        if not self.texts:
            self._load_cache()
        new = [t for t in dict.fromkeys(self.store.template_texts()) if t and t not in self._row]
        if not new:
            return 0
        vectors = self._encode(new)
        self.matrix = vectors if not len(self.texts) else np.vstack([self.matrix, vectors])
        for t in new:
            self._row[t] = len(self.texts)
            self.texts.append(t)
        self._save_cache()
        return len(new)

    def _load_cache(self) -> None:
        path = self._cache_file()
        if path is None or not path.exists():
            return
        try:
            with np.load(path, allow_pickle=False) as z:
                texts, matrix = [str(t) for t in z["texts"]], np.asarray(z["matrix"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as e:  # a damaged cache is read again from the model
            log.warning("template meanings cache %s unreadable (%s); reading the templates again", path, e)
            return
        self.texts, self.matrix = texts, matrix
        self._row = {t: i for i, t in enumerate(texts)}

    def _save_cache(self) -> None:
        """Kept for the next process (0600 in a 0700 folder, as everything logvec writes); a folder it cannot
        write (a read-only root file system) only costs reading the templates again at the next start."""
        path = self._cache_file()
        if path is None:
            return
        from logvec.atomic import replaced

        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with replaced(path) as tmp:
                with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                    np.savez(f, texts=np.array(self.texts), matrix=self.matrix)
        except OSError as e:
            if not self._unwritable:
                log.warning("template meanings are not cached in %s (%s); they are read again at each start",
                            path.parent, e)
            self._unwritable = True

    def query(self, text: str) -> np.ndarray:
        """The query as the model reads it (unit length)."""
        return self._encode([text])[0]

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the query with every template, in `self.texts` order."""
        return self.matrix @ query_vector if len(self.texts) else np.zeros(0, dtype=np.float32)

    def of(self, template: str, scores: np.ndarray) -> float:
        """One template's score among `scores` (as `scores` gave them); 0 for a template not read yet."""
        row = self._row.get(template)
        return 0.0 if row is None else float(scores[row])
