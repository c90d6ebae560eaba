"""A/B of `logvec run`: an earlier commit against the working tree, alternating, whole-process wall time.

    python benchmarks/bench_ab.py --baseline db10c08 [--lines 1000000] [--rounds 3] [--pipeline pipelines/default.yaml]

The earlier commit is checked out in a temporary git worktree and run with the same Python (its source first
on PYTHONPATH); both read one generated file (`generate_logs.py`) into a fresh data directory each round, and
the two sides alternate so that a slow minute on the host falls on both. Prints each round and the medians;
writes benchmarks/out/ab.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_once(source: Path, pipeline: str, log: Path, data: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(source)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "logvec", "run", "--pipeline", str(source / pipeline), "--input", str(log),
                    "--data-dir", str(data)], cwd=source, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="the earlier commit (any git revision)")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pipeline", default="pipelines/default.yaml", help="relative to the repository root")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="logvec-ab-") as tmp:
        work = Path(tmp)
        log = work / "lines.log"
        subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines), "--out", str(log)],
                       check=True)
        old = work / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), a.baseline], check=True,
                       capture_output=True)
        times: dict[str, list[float]] = {"baseline": [], "this": []}
        try:
            for r in range(1, a.rounds + 1):
                for side, source in (("baseline", old), ("this", ROOT)):
                    seconds = run_once(source, a.pipeline, log, work / f"data-{side}-{r}")
                    times[side].append(seconds)
                    print(f"round {r} {side:8} {seconds:6.1f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], check=False)
    med = {side: statistics.median(t) for side, t in times.items()}
    print(f"median: baseline {med['baseline']:.1f} s, this {med['this']:.1f} s "
          f"({100 * (med['this'] / med['baseline'] - 1):+.1f}%)")
    save("ab.json", {"baseline": a.baseline, "lines": a.lines, "pipeline": a.pipeline, "seconds": times,
                     "median": med})


if __name__ == "__main__":
    main()
