"""The fitted model: template miner + vectorizer + detector, saved as one versioned directory.

`logvec run` fits one on the first lines of a fresh data directory; `logvec fit` writes one explicitly.
The directory holds `model.pkl` and a human-readable `meta.json` (versions, pipeline hash, dimension).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import logvec
from logvec.config import PipelineConfig
from logvec.detect import Detector, make_detector
from logvec.masking import Masker
from logvec.parse import Parser
from logvec.records import RawBatch, RecordBatch
from logvec.templates import TemplateMiner
from logvec.vectorize import BaseVectorizer, make_vectorizer

FORMAT_VERSION = 1


class ModelError(RuntimeError):
    """A model directory that cannot be used with this pipeline."""


@dataclass
class Model:
    miner: TemplateMiner
    vectorizer: BaseVectorizer
    detector: Detector
    meta: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, config: PipelineConfig, raw_batches: list[RawBatch]) -> tuple["Model", RecordBatch]:
        """Fit every stage on the baseline lines; returns the model and the parsed baseline."""
        parser, masker = Parser(config.parse), Masker(config.masking)
        miner = TemplateMiner(config.templates)
        parts = [parser.parse(raw)[0] for raw in raw_batches]
        records = concat(parts)
        records.masked = masker.mask(records.messages)
        records.template_ids = miner.update(records.masked)
        vectorizer = make_vectorizer(config.vectorizer).fit(records.masked)
        vectors = vectorizer.transform_unique(records.masked)
        detector = make_detector(config.detector).fit(records, vectors)
        meta = {
            "format": FORMAT_VERSION,
            "logvec_version": logvec.__version__,
            "pipeline": config.name,
            "pipeline_hash": config.fit_hash(),
            "vectorizer": config.vectorizer.type,
            "detector": config.detector.type,
            "dim": vectorizer.dim,
            "baseline_lines": len(records),
            "templates": miner.n_templates,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return cls(miner, vectorizer, detector, meta), records

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "model.pkl.tmp"
        with open(tmp, "wb") as f:
            pickle.dump({"miner": self.miner, "vectorizer": self.vectorizer, "detector": self.detector}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, d / "model.pkl")  # atomic: a crash never leaves half a model
        self.meta["templates"] = self.miner.n_templates
        (d / "meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, config: PipelineConfig | None = None) -> "Model":
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text())
            with open(d / "model.pkl", "rb") as f:
                parts = pickle.load(f)
        except FileNotFoundError:
            raise ModelError(f"no model in {d}: run `logvec fit` or `logvec run` first") from None
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"{d}: model format {meta.get('format')} is not {FORMAT_VERSION}; refit it")
        if config is not None and meta.get("pipeline_hash") != config.fit_hash():
            raise ModelError(
                f"{d}: the model was fitted with another pipeline configuration "
                f"({meta.get('pipeline')}, hash {meta.get('pipeline_hash')}, now {config.fit_hash()}); "
                "refit with `logvec fit` or use another --data-dir"
            )
        return cls(parts["miner"], parts["vectorizer"], parts["detector"], meta)

    @staticmethod
    def exists(directory: str | Path) -> bool:
        return (Path(directory) / "model.pkl").exists()


def concat(batches: list[RecordBatch]) -> RecordBatch:
    import numpy as np

    if not batches:
        return RecordBatch.empty()
    return RecordBatch(
        ids=[x for b in batches for x in b.ids],
        messages=[x for b in batches for x in b.messages],
        timestamps=np.concatenate([b.timestamps for b in batches]),
        services=[x for b in batches for x in b.services],
        levels=[x for b in batches for x in b.levels],
        flags=[x for b in batches for x in b.flags],
    )
