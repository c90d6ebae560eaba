"""The sentence vectorizer's GPU path: checks it runs on CUDA and times it (run on a machine with a GPU).

    python benchmarks/gpu_sentence.py [--lines 200000] [--batch-size 512]

Prints JSON: the device, raw `SentenceTransformer.encode` lines/s on CUDA (fp32 and fp16) over distinct
generated messages, and the cached vectorizer's lines/s over the full stream. Exits 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--batch-size", type=int, default=512)
    a = ap.parse_args()
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
