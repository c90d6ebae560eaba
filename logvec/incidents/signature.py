"""An incident's signature, and incidents ranked by how alike they are.

The signature is a mix of the vectors of the incident's templates (one example line each, vectorized as the
pipeline vectorizes lines), each weighted by log(1 + its count): the templates that make the incident count
most, without one flood drowning the rest. With the tf-idf vectorizer the words common to all logs already
weigh little. Two incidents of one kind on two nodes share their templates, so their signatures are close;
incidents of different kinds share few words, so they are not. Signatures compare only within one model
version (another fit is another vector space).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from logvec.incidents.grouping import template_key
from logvec.incidents.incident import Anomaly, Incident

if TYPE_CHECKING:
    from logvec.masking import Masker
    from logvec.vectorize.base import BaseVectorizer


def signature(members: list[Anomaly], vectorizer: BaseVectorizer, masker: Masker) -> np.ndarray:
    """The unit-length signature of these anomalies."""
    examples: dict[int | str, Anomaly] = {}
    counts: dict[int | str, int] = {}
    for a in members:
        key = template_key(a)
        examples.setdefault(key, a)
        counts[key] = counts.get(key, 0) + 1
    keys = list(examples)
    vectors = np.asarray(vectorizer.transform(masker.mask([examples[k].message for k in keys])), dtype=np.float32)
    weights = np.log1p(np.array([counts[k] for k in keys], dtype=np.float32))
    mix = (vectors * weights[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(mix))
    return mix / norm if norm > 0 else mix


def why(a: Incident, b: Incident) -> dict[str, Any]:
    """What two incidents share: templates (their text), services and kinds."""
    ta = {t["template"] for t in a.top_templates}
    return {"templates": [t["template"] for t in b.top_templates if t["template"] in ta],
            "services": [s for s in b.services if s in a.services],
            "kinds": [k for k in b.kinds if k in a.kinds]}


def rank_similar(target: Incident, candidates: list[Incident], k: int = 5,
                 min_score: float = 0.0) -> list[tuple[Incident, float]]:
    """The `k` candidates most like `target` (cosine of signatures, same model), best first; not itself."""
    if target.signature is None:
        return []
    pool = [(c, c.signature) for c in candidates if c.id != target.id and c.signature is not None
            and c.model_id == target.model_id and len(c.signature) == len(target.signature)]
    if not pool:
        return []
    scores = np.stack([sig for _, sig in pool]) @ target.signature
    order = np.argsort(-scores, kind="stable")[:k]
    return [(pool[i][0], float(scores[i])) for i in order if scores[i] > min_score]
