"""The sentence vectorizer's GPU path: checks it runs on CUDA and times it (run on a machine with a GPU).

    python benchmarks/gpu_sentence.py [--lines 200000] [--batch-size 512]

Prints JSON: the device, raw `SentenceTransformer.encode` lines/s on CUDA (fp32 and fp16) over distinct
generated messages, the cached vectorizer's lines/s over the full stream, and a check that the CUDA vectors
(the vectorizer's own precision) agree with the CPU's fp32 ones on 512 distinct masked lines (cosine of each
pair, and whether every line's nearest neighbour among them is the same). Exits 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=512)
    a = ap.parse_args()
    import numpy as np
    import torch

    if not torch.cuda.is_available():
        print(json.dumps({"error": "no CUDA device"}))
        raise SystemExit(2)
    from generate_logs import generate

    from logvec.masking import Masker
    from logvec.vectorize.sentence import SentenceVectorizer

    lines = [line.split(": ", 1)[-1] for line, _ in generate(a.lines, seed=11)]
    out = {"device": torch.cuda.get_device_name(0), "lines": len(lines)}
    v = SentenceVectorizer(device="cuda", batch_size=a.batch_size).fit()
    st = v._load()
    st.encode(lines[:2048], batch_size=a.batch_size)  # warm up kernels
    for label, model in (("fp16", st), ("fp32", SentenceVectorizer(device="cuda", precision="fp32").fit()._load())):
        torch.cuda.synchronize()
        t = time.perf_counter()
        model.encode(lines, batch_size=a.batch_size, convert_to_numpy=True)
        torch.cuda.synchronize()
        out[f"raw_encode_{label}_lines_per_second"] = round(len(lines) / (time.perf_counter() - t), 1)
    masked = Masker().mask(lines)
    t = time.perf_counter()
    for i in range(0, len(masked), 4096):
        v.transform_unique(masked[i:i + 4096])
    out["cached_vectorizer_lines_per_second"] = round(len(masked) / (time.perf_counter() - t), 1)
    out["precision"] = v.precision_
    out["distinct_masked_lines"] = v.cache_misses
    sample = list(dict.fromkeys(masked))[:512]
    on_gpu = SentenceVectorizer(device="cuda", batch_size=a.batch_size).fit().transform(sample)
    on_cpu = SentenceVectorizer(device="cpu", precision="fp32").fit().transform(sample)
    cosines = (on_gpu * on_cpu).sum(axis=1)
    nearest = [(m @ m.T - 2 * np.eye(len(m))).argmax(axis=1) for m in (on_gpu, on_cpu)]
    out["cuda_vs_cpu"] = {"lines": len(sample), "min_cosine": round(float(cosines.min()), 5),
                          "mean_cosine": round(float(cosines.mean()), 5),
                          "same_nearest_neighbour": round(float((nearest[0] == nearest[1]).mean()), 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
