"""Throughput and peak memory of `logvec run` next to Drain3 alone, on the same generated lines, same run.

    python benchmarks/bench_throughput.py [--lines 1000000] [--pipeline pipelines/tfidf.yaml]

Each contender runs in its own child process so that its peak RSS is its own (os.wait4's rusage):
* drain3   — drain3.TemplateMiner.add_log_message on every line, with logvec's built-in masks as Drain3
             MaskingInstructions (the same regexes), default Drain3 settings otherwise;
* logvec   — `logvec run --pipeline P --input FILE` on a fresh data directory: parse → mask → template →
             vectorize → detect → store (the model is fitted on the first lines, inside the timing).
Prints a table and writes benchmarks/out/throughput.json.
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

from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DRAIN3_CHILD = r"""
import sys, time
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
from drain3.masking import MaskingInstruction
from logvec.masking import BUILTIN_PATTERNS
cfg = TemplateMinerConfig()
cfg.masking_instructions = [MaskingInstruction(p, name.upper()) for name, p in BUILTIN_PATTERNS.items()]
cfg.profiling_enabled = False
tm = TemplateMiner(config=cfg)
n = 0
t = time.perf_counter()
with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
    for line in f:
        tm.add_log_message(line.rstrip("\n"))
        n += 1
dt = time.perf_counter() - t
print(n, dt, len(tm.drain.clusters))
"""


def run_child(cmd: list[str], env: dict | None = None) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS bytes) of one child process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=ROOT)
    out = p.stdout.read().decode()  # type: ignore[union-attr]
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:3]} failed with status {status}")
    return out, wall, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "tfidf.yaml"))
    ap.add_argument("--input", help="use this log file instead of generating one")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(a.input) if a.input else Path(tmp) / "bench.log"
        if not a.input:
            subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines),
                            "--out", str(log)], check=True)
        n_lines = sum(1 for _ in open(log, "rb"))

        out, wall_d, rss_d = run_child([sys.executable, "-c", DRAIN3_CHILD, str(log)])
        n_d, secs_d, clusters_d = out.split()
        drain = {"lines": int(n_d), "seconds": float(secs_d), "lines_per_second": int(n_d) / float(secs_d),
                 "peak_rss_mib": rss_d / 2**20, "templates": int(clusters_d)}

        logvec_bin = str(Path(sys.executable).parent / "logvec")
        out, wall_l, rss_l = run_child([logvec_bin, "run", "--pipeline", a.pipeline, "--input", str(log),
                                        "--data-dir", str(Path(tmp) / "data"), "--format", "json"])
        summary = json.loads(out)
        lv = {"lines": summary["lines"], "seconds": summary["seconds"], "wall_seconds_with_startup": wall_l,
              "lines_per_second": summary["lines_per_second"], "peak_rss_mib": rss_l / 2**20,
              "templates": summary["templates"], "stage_seconds": summary["stage_seconds"]}

    result = {"input_lines": n_lines, "pipeline": a.pipeline, "drain3": drain, "logvec": lv,
              "ratio_logvec_to_drain3": lv["lines_per_second"] / drain["lines_per_second"]}
    save("throughput.json", result)
    print(f"{'':10} {'lines/s':>10} {'peak RSS MiB':>13} {'templates':>10}")
    print(f"{'drain3':10} {drain['lines_per_second']:>10,.0f} {drain['peak_rss_mib']:>13,.0f} {drain['templates']:>10}")
    print(f"{'logvec':10} {lv['lines_per_second']:>10,.0f} {lv['peak_rss_mib']:>13,.0f} {lv['templates']:>10}")
    print(f"logvec / drain3 throughput: {result['ratio_logvec_to_drain3']:.2f}x   stages (s): {lv['stage_seconds']}")


if __name__ == "__main__":
    main()
