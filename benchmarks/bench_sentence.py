"""The sentence vectorizer against raw `SentenceTransformer.encode`, at two levels of repetition.

    python benchmarks/bench_sentence.py [--lines 20000] [--raw-sample 2000]

The vectorizer embeds each distinct masked line once, so its gain is the stream's repetition, not the model's
speed. Two streams show the range: the generated multi-service log (few shapes, repeated) and Loghub's 15
labeled 2k samples concatenated (many distinct shapes). For each, after a warm-up inference: raw encode of
the first `--raw-sample` messages (lines/s, bf16 where the CPU computes it, as the vectorizer runs), and the
cached vectorizer over the whole stream, masked as `logvec run` masks it. Writes benchmarks/out/sentence.json.
Logs: Loghub (Zhu et al., ISSRE 2023).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from generate_logs import generate
from results import save

from logvec.masking import Masker
from logvec.vectorize.sentence import SentenceVectorizer

HERE = Path(__file__).resolve().parent
LOGHUB = HERE.parent.parent / "shared" / "data" / "loghub_2k"


def loghub_messages() -> list[str]:
    out = []
    for system in sorted(p.name for p in LOGHUB.iterdir() if p.is_dir()):
        with open(LOGHUB / system / f"{system}_2k.log_structured.csv", encoding="utf-8") as f:
            out += [r["Content"] for r in csv.DictReader(f)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=20_000, help="generated lines")
    ap.add_argument("--raw-sample", type=int, default=2000)
    a = ap.parse_args()
    streams = {"generated": [line.split(": ", 1)[-1] for line, _ in generate(a.lines, seed=3)],
               "loghub-15-systems": loghub_messages()}
    masker = Masker()
    results = {}
    for name, messages in streams.items():
        raw = SentenceVectorizer().fit()
        raw.encode_raw(messages[-256:])  # warm-up
        sample = messages[: a.raw_sample]
        t = time.perf_counter()
        raw.encode_raw(sample)
        raw_lps = len(sample) / (time.perf_counter() - t)
        cached = SentenceVectorizer().fit()
        cached.transform(masker.mask(messages[-256:]))  # warm-up, then a fresh cache
        cached = SentenceVectorizer().fit()
        cached._st = raw._st
        masked = masker.mask(messages)
        t = time.perf_counter()
        for i in range(0, len(masked), 4096):
            cached.transform(masked[i:i + 4096])
        cached_lps = len(masked) / (time.perf_counter() - t)
        results[name] = {"lines": len(messages), "distinct_masked": len(set(masked)),
                         "precision": raw.precision_, "raw_encode_lines_per_second": round(raw_lps, 1),
                         "cached_vectorizer_lines_per_second": round(cached_lps, 1),
                         "ratio": round(cached_lps / raw_lps, 1)}
        print(name, json.dumps(results[name]), flush=True)
    save("sentence.json", results)


if __name__ == "__main__":
    main()
