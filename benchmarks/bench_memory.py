"""Peak RSS of `logvec run` with a pipeline's defaults, on the inputs that grow its memory (the deployment's memory
budget, docs/deployment.md).

    python benchmarks/bench_memory.py [--lines 300000] [--pipeline pipelines/default.yaml]

Inputs, each run in a fresh data directory, the child's peak RSS from os.wait4 (the main process's: a file run's
text-stage workers, docs/operations.md, are processes of their own, and a Kafka worker has none):
* generated — benchmarks/generate_logs.py (multi-service, realistic repetition);
* hdfs      — Loghub's HDFS_5k repeated;
* distinct  — every line a new masked line of one template (`user <word> logged in … from region <word>`, the
              words letters only, so no mask folds them): the vectorizer's cache and the detector's reference
              fill to their bounds (`vectorizer.cache_memory`, `detector.max_reference`).
Writes benchmarks/out/memory.json.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_throughput import run_child
from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"


def distinct_log(path: Path, lines: int) -> None:
    rng = random.Random(3)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(5, 9)))

    with open(path, "w") as f:
        for i in range(lines):
            f.write(f"2026-11-01T10:{i // 6000 % 60:02d}:{i // 100 % 60:02d}Z INFO shop-{rng.randint(1, 5)}: "
                    f"user {word()} logged in to the store from region {word()}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "default.yaml"))
    a = ap.parse_args()
    logvec = str(Path(sys.executable).parent / "logvec")
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {name: Path(tmp) / f"{name}.log" for name in ("generated", "hdfs", "distinct")}
        subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines), "--out",
                        str(inputs["generated"])], check=True, stdout=subprocess.DEVNULL)
        hdfs = (SHARED / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
        inputs["hdfs"].write_text("\n".join(hdfs[i % len(hdfs)] for i in range(a.lines)) + "\n")
        distinct_log(inputs["distinct"], a.lines)
        for name, log in inputs.items():
            _, wall, rss_bytes, _ = run_child([logvec, "run", "-p", a.pipeline, "-i", str(log), "-d",
                                               str(Path(tmp) / name), "--format", "json"])
            rss = rss_bytes / 2**20
            out[name] = {"lines": a.lines, "peak_rss_mib": round(rss), "wall_seconds": round(wall, 1)}
            print(f"{name:10} peak RSS {rss:7,.0f} MiB  ({wall:.1f} s)")
    save("memory.json", {"pipeline": a.pipeline, "inputs": out})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
