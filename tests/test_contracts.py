"""One contract over every vectorizer and every detector, as scikit-learn's check_estimator does: parameters
in the constructor and nothing else, a clear error before fit, the output's shape and type, a pickle round trip
that changes nothing, and (detectors) an unfitted clone and explanations of known kinds."""

import inspect
import pickle

import numpy as np
import pytest

from logvec.config import parse_pipeline
from logvec.detect import make_detector
from logvec.detect.base import ANOMALY_KINDS
from logvec.errors import NotFittedError
from logvec.masking import Masker
from logvec.model import Model
from logvec.pipeline import prepare_batch
from logvec.records import RawBatch
from logvec.sessionkeys import SessionKeys
from logvec.sessions import Sessions
from logvec.textstages import TextStages
from logvec.vectorize import VECTORIZERS


@pytest.fixture(scope="module")
def loghub_messages(shared_data):
    """Masked messages of three real systems: 2,000 to fit on, 1,000 others (another system among them)."""
    import csv

    out = {}
    for system in ("HDFS", "OpenSSH", "Zookeeper"):
        with open(shared_data / "loghub_2k" / system / f"{system}_2k.log_structured.csv", encoding="utf-8") as f:
            out[system] = [r["Content"] for r in csv.DictReader(f)]
    masker = Masker()
    fit = masker.mask(out["HDFS"][:1000] + out["OpenSSH"][:1000])
    new = masker.mask(out["HDFS"][1000:1500] + out["Zookeeper"][:500])
    return fit, new


@pytest.mark.parametrize("kind", sorted(VECTORIZERS))
def test_vectorizer_contract(kind, loghub_messages):
    fit, new = loghub_messages
    cls = VECTORIZERS[kind]
    v = cls()
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(vars(v)) <= params, f"{kind}: the constructor does more than keep its parameters"
    with pytest.raises(NotFittedError, match="not fitted"):
        v.transform(new[:3])
    X = v.fit(fit).transform(new)
    assert X.shape == (len(new), v.dim) and X.dtype == np.float32
    norms = np.linalg.norm(X, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0)) and (norms > 0).mean() > 0.9
    again = pickle.loads(pickle.dumps(v))
    assert np.allclose(again.transform(new), X, atol=1e-6)
    # one distinct text, one row: repeats of a line map to the same vector
    assert np.array_equal(v.transform([new[0], new[0]])[0], v.transform([new[0]])[0])


DETECTORS = ["novelty", "knn", "lof", "isolation_forest", "pca", "ensemble"]


def _detector(kind):
    if kind == "ensemble":
        config = {"type": "ensemble", "members": [{"type": "novelty"}, {"type": "knn"}], "combine": "mean_rank"}
    else:
        config = {"type": kind}
    return make_detector(parse_pipeline({"detector": config}).detector)


@pytest.fixture(scope="module")
def samples(shared_data):
    """Line and session Samples of HDFS_5k: its first 3,000 lines to fit on, the rest to score."""
    lines = (shared_data / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
    config = parse_pipeline({"parse": {"type": "plain"}, "session": {"key": r"(blk_-?\d+)"}})
    model, base = Model.fit(config, [RawBatch(lines[:3000], [f"t:{i}" for i in range(3000)])])
    test, vectors, _ = prepare_batch(RawBatch(lines[3000:], [f"s:{i}" for i in range(len(lines) - 3000)]),
                                     TextStages(config), model)
    keys = SessionKeys(config.session)

    def session_sample(recs):
        groups = Sessions.group(keys.from_lines(recs.messages))
        return model.session_sample(groups.keys, [recs.template_ids[ix] for ix in groups.lines])

    return {"line": (model.line_sample(base, model.vectorizer.transform_unique(base.masked)),
                     model.line_sample(test, vectors)),
            "session": (session_sample(base), session_sample(test))}


@pytest.mark.parametrize("level", ["line", "session"])
@pytest.mark.parametrize("kind", DETECTORS)
def test_detector_contract(kind, level, samples):
    fit, test = samples[level]
    det = _detector(kind)
    with pytest.raises(NotFittedError, match="not fitted"):
        det.detect(test)
    if kind != "ensemble":  # an ensemble's parameters are its members
        params = set(inspect.signature(type(det).__init__).parameters) - {"self"}
        assert set(vars(det)) <= params, f"{kind}: the constructor does more than keep its parameters"
        clone = det.fit(fit).clone()
        assert not hasattr(clone, "threshold_") and clone.get_params().keys() == det.get_params().keys()
    else:
        det.fit(fit)
    assert np.isfinite(det.threshold_)
    d = det.detect(test)
    assert d.scores.shape == (len(test),) and d.scores.dtype == np.float32 and np.isfinite(d.scores).all()
    assert d.is_anomaly.dtype == bool and set(d.explanations) == set(np.flatnonzero(d.is_anomaly).tolist())
    kinds = {e.kind for ex in d.explanations.values() for e in ex}
    assert kinds <= set(ANOMALY_KINDS), kinds
    again = pickle.loads(pickle.dumps(det))
    assert np.array_equal(again.detect(test).scores, d.scores)


def test_the_embedded_backends_are_what_the_protocols_say(tmp_path):
    """The pipeline sees a Store, a Source and a DeadLetterSink, whatever their kind. mypy checks every backend
    against these protocols where a factory returns it; this checks the embedded ones at run time too."""
    from logvec.deadletter import DeadLetterSink
    from logvec.pipeline import open_dead_letters
    from logvec.sources import Source, open_source
    from logvec.store import Store, StoreReader, open_store

    config = parse_pipeline({})
    store = open_store(config.store, tmp_path)
    try:
        assert isinstance(store, Store) and isinstance(store, StoreReader)
    finally:
        store.close()
    (tmp_path / "a.log").write_text("one line\n")
    source = open_source(config, [str(tmp_path / "a.log")])
    assert isinstance(source, Source) and sum(len(b) for b in source) == 1
    assert isinstance(open_dead_letters(config, tmp_path), DeadLetterSink)
    assert not isinstance(object(), Store) and not isinstance(object(), Source)
