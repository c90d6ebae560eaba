"""All five vectorizers on the same generated stream: throughput, memory, quality; plus the sentence and
word2vec goals.

    python benchmarks/bench_vectorizers.py [--lines 1000000] [--only sentence word2vec]

For each of pipelines/{bow,tfidf,onehot,word2vec,sentence}.yaml:
* `logvec run` over the stream on a fresh data directory (own process): lines/s, peak RSS;
* `logvec eval` on HDFS_5k, block level (TRAIN = TEST, `--session-key`), default detector: F1;
* `logvec eval` on 100k generated lines with 0.1% injected new events, line level, with the `knn` detector
  (which reads the vectors, so the vectorizer matters): F1 and average precision.
Then, same stream, same run: raw `SentenceTransformer.encode` on a sample of the stream's messages vs the
cached sentence vectorizer; word2vec training on every line of the stream and its transform throughput.
Writes benchmarks/out/vectorizers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ["bow", "tfidf", "onehot", "word2vec", "sentence"]
HDFS = ROOT.parent / "shared" / "data" / "hdfs_5k"


def child(cmd: list[str]) -> tuple[str, float, float]:
    """(stdout, wall seconds, peak RSS MiB) of one command."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    out = p.stdout.read().decode()  # type: ignore[union-attr]
    _, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return out, time.perf_counter() - t, usage.ru_maxrss / 1024


def masked_stream(log: Path, pipeline: Path, batch: int = 4096):
    """The stream's masked messages, in batches, as `logvec run` would see them."""
    from logvec.config import load_pipeline
    from logvec.masking import Masker
    from logvec.parse import Parser
    from logvec.sources import iter_file_batches

    cfg = load_pipeline(pipeline)
    parser, masker = Parser(cfg.parse), Masker(cfg.masking)
    messages, masked = [], []
    for raw in iter_file_batches([str(log)], batch, cfg.parse.max_line_size):
        records, _ = parser.parse(raw)
        messages.extend(records.messages)
        masked.append(masker.mask(records.messages))
    return messages, masked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--only", nargs="*", default=KINDS)
    ap.add_argument("--raw-sample", type=int, default=2000, help="lines for the raw encode baseline")
    a = ap.parse_args()
    logvec = str(Path(sys.executable).parent / "logvec")
    gen = [sys.executable, str(HERE / "generate_logs.py")]
    results: dict = {"lines": a.lines, "vectorizers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        log = t / "stream.log"
        subprocess.run(gen + ["--lines", str(a.lines), "--out", str(log)], check=True)
        subprocess.run(gen + ["--lines", "100000", "--seed", "1", "--anomaly-rate", "0.0002", "--out",
                              str(t / "train.log")], check=True)
        subprocess.run(gen + ["--lines", "100000", "--seed", "2", "--anomaly-rate", "0.001", "--out",
                              str(t / "test.log"), "--labels", str(t / "labels.csv")], check=True)
        for kind in a.only:
            pipe = ROOT / "pipelines" / f"{kind}.yaml"
            out, wall, rss = child([logvec, "run", "-p", str(pipe), "-i", str(log), "-d", str(t / f"d-{kind}"),
                                    "--format", "json"])
            run = json.loads(out)
            hdfs = json.loads(child([logvec, "eval", "-p", str(pipe), "--train", str(HDFS / "HDFS_5k.log"),
                                     "--test", str(HDFS / "HDFS_5k.log"), "--labels", str(HDFS / "block_labels.csv"),
                                     "--session-key", r"blk_-?\d+", "--format", "json"])[0])
            knn_pipe = t / f"{kind}-knn.yaml"
            doc = yaml.safe_load(pipe.read_text())
            doc["detector"] = {"type": "knn", "k": 5}
            knn_pipe.write_text(yaml.safe_dump(doc))
            gen_eval = json.loads(child([logvec, "eval", "-p", str(knn_pipe), "--train", str(t / "train.log"),
                                         "--test", str(t / "test.log"), "--labels", str(t / "labels.csv"),
                                         "--format", "json"])[0])
            results["vectorizers"][kind] = {
                "run_lines_per_second": run["lines_per_second"], "run_seconds": run["seconds"],
                "fit_seconds": run["stage_seconds"].get("fit"), "vectorize_seconds": run["stage_seconds"]["vectorize"],
                "peak_rss_mib": round(rss, 1), "hdfs_session_f1": hdfs["f1"],
                "generated_line_knn_f1": gen_eval["f1"], "generated_line_knn_ap": gen_eval["average_precision"],
            }
            print(kind, json.dumps(results["vectorizers"][kind]), flush=True)

        messages, masked = masked_stream(log, ROOT / "pipelines" / "default.yaml")
        flat = [m for b in masked for m in b]
        if "sentence" in a.only:
            from logvec.vectorize.sentence import SentenceVectorizer

            sv = SentenceVectorizer().fit()
            sample = messages[: a.raw_sample]
            sv.encode_raw(messages[-256:])  # warm: the first inference after loading is not what a run sees
            t0 = time.perf_counter()
            sv.encode_raw(sample)  # bf16 autocast where the CPU has it, as the vectorizer runs
            raw_lps = len(sample) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            sv._load().encode(sample, batch_size=64)  # plain SentenceTransformer.encode, fp32
            raw_fp32_lps = len(sample) / (time.perf_counter() - t0)
            fresh = SentenceVectorizer().fit()
            t0 = time.perf_counter()
            for b in masked:
                fresh.transform_unique(b)
            cached_s = time.perf_counter() - t0
            results["sentence"] = {
                "device": sv.device_, "precision": sv.precision_, "raw_encode_lines_per_second": round(raw_lps, 1),
                "raw_encode_fp32_lines_per_second": round(raw_fp32_lps, 1),
                "raw_sample_lines": len(sample), "cached_vectorizer_lines_per_second": round(len(flat) / cached_s, 1),
                "distinct_masked_lines": fresh.cache_misses,
                "speedup": round(len(flat) / cached_s / raw_lps, 1),
                "run_speedup": round(results["vectorizers"]["sentence"]["run_lines_per_second"] / raw_lps, 1),
            }
            print("sentence", json.dumps(results["sentence"]), flush=True)
        if "word2vec" in a.only:
            from logvec.vectorize.word2vec import Word2VecVectorizer

            t0 = time.perf_counter()
            w = Word2VecVectorizer().fit(flat)
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            for b in masked:
                w.transform_unique(b)
            results["word2vec"] = {"train_seconds_all_lines": round(train_s, 2),
                                   "transform_lines_per_second": round(len(flat) / (time.perf_counter() - t0), 1)}
            print("word2vec", json.dumps(results["word2vec"]), flush=True)
    save("vectorizers.json", results)


if __name__ == "__main__":
    main()
