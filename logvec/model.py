"""The fitted model: template miner + vectorizer + detector, saved as one versioned directory.

`logvec run` fits one on the first lines of a fresh data directory; `logvec fit` writes one explicitly.
The directory holds `model.pkl` and a human-readable `meta.json` (versions, pipeline hash, dimension).
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import logvec
from logvec.atomic import replaced
from logvec.config import PipelineConfig
from logvec.detect import Detections, Detector, Sample, make_detector
from logvec.detect.rate import RateModel, make_rate_model
from logvec.errors import NotFittedError
from logvec.masking import Masker
from logvec.parse import Parser
from logvec.redact import Redactor
from logvec.records import RawBatch, RecordBatch
from logvec.sessionkeys import session_keys
from logvec.sessions import SessionFeaturizer, Sessions
from logvec.templates import TemplateMiner
from logvec.vectorize import BaseVectorizer, Vectors, make_vectorizer

FORMAT_VERSION = 1


class ModelError(RuntimeError):
    """A model directory that cannot be used with this pipeline."""


@dataclass
class Model:
    miner: TemplateMiner
    vectorizer: BaseVectorizer
    detector: Detector | None  # line level
    session_featurizer: SessionFeaturizer | None = None
    session_detector: Detector | None = None
    rate: RateModel | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def fit(cls, config: PipelineConfig, raw_batches: list[RawBatch]) -> tuple["Model", RecordBatch]:
        """Fit every stage on the baseline lines; returns the model and the parsed baseline."""
        parser, masker = Parser(config.parse, session_keys(config)), Masker(config.masking)
        miner = TemplateMiner(config.templates)
        redactor = Redactor(config.redact)
        records = concat([parser.parse(redactor.redact_batch(raw))[0] for raw in raw_batches])
        records.masked = masker.mask(records.messages)
        records.template_ids = miner.update(records.masked)  # one call: every id is already the merged one
        miner.pop_merges()  # so the fit's own merges are not replayed onto the detectors
        miner.learn_online()
        vectorizer = make_vectorizer(config.vectorizer).fit(records.masked)
        model = cls(miner, vectorizer, make_detector(config.detector))
        if model.detector is not None:
            model.detector.fit(model.line_sample(records, vectorizer.transform_unique(records.masked)))
        if config.session is not None:
            sessions = Sessions.group(records.sessions)
            sequences = [records.template_ids[ix] for ix in sessions.lines]
            model.session_featurizer = SessionFeaturizer().fit(sequences)
            model.session_detector = make_detector(config.session.detector)
            if model.session_detector is not None:
                model.session_detector.fit(model.session_sample(sessions.keys, sequences))
        model.rate = make_rate_model(config.rate)
        if model.rate is not None:
            model.rate.fit(records.services, records.template_ids, records.timestamps)
        model.meta = {
            "format": FORMAT_VERSION,
            "logvec_version": logvec.__version__,
            "pipeline": config.name,
            "pipeline_hash": config.fit_hash(),
            "vectorizer": config.vectorizer.type,
            "detector": config.detector.type,
            "session_detector": config.session.detector.type if config.session else None,
            "dim": vectorizer.dim,
            "baseline_lines": len(records),
            "baseline_sessions": len(Sessions.group(records.sessions)) if config.session else 0,
            "templates": miner.n_templates,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return model, records

    def follow_merges(self) -> None:
        """Templates the miner merged since the last call (after the fit: a word slot that reached
        `variable_min_values`, or `merge_min_variants` templates): the line and session detectors' counts and
        the rate model follow them to the merged id."""
        merges = self.miner.pop_merges()
        if not merges:
            return
        for part in (self.detector, self.session_detector, self.rate):
            if part is not None:
                part.merge_templates(merges)

    def line_sample(self, records: RecordBatch, vectors: Vectors) -> Sample:
        return Sample(vectors, None, records.messages, self.vectorizer.feature_names(), self.miner.template,
                      level="line", template_ids=records.template_ids, levels=records.levels)

    def session_sample(self, keys: list[str], sequences: list[np.ndarray]) -> Sample:
        if self.session_featurizer is None:
            raise NotFittedError("this model was fitted without a `session:` section; it scores lines only")
        return self.session_featurizer.sample(keys, sequences, self.miner.template)

    @property
    def line_threshold(self) -> float:
        return float(self.detector.threshold_) if self.detector is not None else 0.0

    def rate_tracker(self):
        """A fresh stream's rate windows, or None when the pipeline watches no rates."""
        from logvec.detect.rate import RateTracker

        return RateTracker(self.rate, self.miner.template) if self.rate is not None else None

    def detect_lines(self, records: RecordBatch, vectors: Vectors) -> Detections:
        if self.detector is None:
            n = len(records)
            return Detections(np.zeros(n, np.float32), np.zeros(n, bool), {}, 0.0)
        return self.detector.detect(self.line_sample(records, vectors))

    def detect_sessions(self, keys: list[str], sequences: list[np.ndarray]) -> Detections:
        if self.session_detector is None:
            n = len(keys)
            return Detections(np.zeros(n, np.float32), np.zeros(n, bool), {}, 0.0)
        return self.session_detector.detect(self.session_sample(keys, sequences))

    @property
    def model_id(self) -> str | None:
        """The published version's content hash (None: not published)."""
        return self.meta.get("model_id")

    @property
    def version(self) -> int | None:
        return self.meta.get("version")

    def to_bytes(self) -> bytes:
        """The fitted parts, pickled (the metadata travels beside them)."""
        return pickle.dumps({"miner": self.miner, "vectorizer": self.vectorizer, "detector": self.detector,
                             "session_featurizer": self.session_featurizer,
                             "session_detector": self.session_detector, "rate": self.rate},
                            protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_bytes(cls, data: bytes, meta: dict, config: PipelineConfig | None = None,
                   where: str = "the model") -> "Model":
        """The inverse of `to_bytes`; `where` names the model's place in errors."""
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"{where}: model format {meta.get('format')} is not {FORMAT_VERSION}; refit it")
        if config is not None and meta.get("pipeline_hash") != config.fit_hash():
            raise ModelError(
                f"{where}: the model was fitted with another pipeline configuration "
                f"({meta.get('pipeline')}, hash {meta.get('pipeline_hash')}, now {config.fit_hash()}); "
                "refit with `logvec fit` or use another --data-dir"
            )
        try:
            parts = pickle.loads(data)
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
                IndexError, KeyError) as e:  # what a cut or overwritten file raises while it is read
            raise ModelError(f"{where} is damaged ({type(e).__name__}: {e}); refit it with `logvec fit` "
                             "or move it away") from None
        return cls(parts["miner"], parts["vectorizer"], parts["detector"], parts["session_featurizer"],
                   parts["session_detector"], parts.get("rate"), meta)

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with replaced(d / "model.pkl") as tmp:  # several workers may share the directory
            tmp.write_bytes(self.to_bytes())
        self.meta["templates"] = self.miner.n_templates
        with replaced(d / "meta.json") as tmp:
            tmp.write_text(json.dumps(self.meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path, config: PipelineConfig | None = None) -> "Model":
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text())
            data = (d / "model.pkl").read_bytes()
        except FileNotFoundError:
            raise ModelError(f"no model in {d}: run `logvec fit` or `logvec run` first") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelError(f"the model in {d} is damaged ({type(e).__name__}: {e}); refit it with "
                             "`logvec fit` or move the directory away") from None
        return cls.from_bytes(data, meta, config, where=f"the model in {d}")

    @staticmethod
    def read_meta(directory: str | Path) -> dict:
        """A model directory's metadata ({} when there is none yet, or it is being replaced this instant)."""
        try:
            return json.loads((Path(directory) / "meta.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    @staticmethod
    def exists(directory: str | Path) -> bool:
        return (Path(directory) / "model.pkl").exists()


def concat(batches: list[RecordBatch]) -> RecordBatch:
    if not batches:
        return RecordBatch.empty()
    return RecordBatch(
        ids=[x for b in batches for x in b.ids],
        messages=[x for b in batches for x in b.messages],
        timestamps=np.concatenate([b.timestamps for b in batches]),
        services=[x for b in batches for x in b.services],
        levels=[x for b in batches for x in b.levels],
        flags=[x for b in batches for x in b.flags],
        sessions=[x for b in batches for x in b.sessions],
    )
