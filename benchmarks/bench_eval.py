"""`logvec eval` speed and line-level quality on generated logs with injected anomalies.

    python benchmarks/bench_eval.py [--lines 100000] [--pipeline pipelines/tfidf.yaml]

TRAIN: generated lines with 0.02% of them anomalous (a contaminated baseline); TEST: a different seed with
0.1% injected anomalies (events the normal stream never produces), labeled line by line. Times the whole
`logvec eval` command (start-up included) and prints its JSON. Writes benchmarks/out/eval.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import save

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--pipeline", default=str(HERE.parent / "pipelines" / "tfidf.yaml"))
    a = ap.parse_args()
    gen = [sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines)]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        subprocess.run(gen + ["--seed", "1", "--anomaly-rate", "0.0002", "--out", str(t / "train.log")], check=True)
        subprocess.run(gen + ["--seed", "2", "--anomaly-rate", "0.001", "--out", str(t / "test.log"),
                              "--labels", str(t / "labels.csv")], check=True)
        logvec = str(Path(sys.executable).parent / "logvec")
        start = time.perf_counter()
        out = subprocess.run([logvec, "eval", "--pipeline", a.pipeline, "--train", str(t / "train.log"),
                              "--test", str(t / "test.log"), "--labels", str(t / "labels.csv"), "--format", "json"],
                             check=True, capture_output=True).stdout
        wall = time.perf_counter() - start
    result = json.loads(out)
    result["wall_seconds"] = round(wall, 2)
    save("eval.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
