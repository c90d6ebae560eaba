"""Throughput of `logvec run` against peers that do the same work, whole process, same run.

    python benchmarks/bench_throughput.py [--lines 1000000] [--real hdfs] [--rounds 2] [--pipeline P]

Contenders, each a child process timed from spawn to exit (imports, fit, model save and store close included),
its peak RSS from os.wait4 and its CPU time with its own children's (logvec hands its text stages to worker
processes, one a core: on a machine with more than one core its wall time is below its CPU time, the peer's
is not):
* drain3-raw      — Drain3 on every raw line, header included, the masks as its MaskingInstructions, no cache
                    (how Drain3 is usually run; not the same work: it templates headers and masks every line);
* drain3-parsed   — the same, on messages parsed with the pipeline's header regexes;
* drain3-cached   — parsed, masked by one regex a message, Drain3 only for a masked line not seen before
                    (templating alone, done as logvec does it);
* peer            — benchmarks/peers/pipeline.py: the whole of what `logvec run` does, from standard parts
                    (regexes, a dict cache, Drain3, scikit-learn's TfidfVectorizer, SQLite, a vector file);
* logvec          — `logvec run --pipeline P --input FILE` on a fresh data directory.
`--real hdfs` runs a real-shaped log instead of generated lines: Loghub's HDFS_5k repeated to `--lines`.
`--rounds` alternates peer and logvec that many times (A/B in one run) and reports each one's median.
Prints a table and writes benchmarks/out/throughput[-hdfs].json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"


def run_child(cmd: list[str]) -> tuple[str, float, int, float]:
    """(stdout, wall seconds from spawn to exit, peak RSS bytes, CPU seconds) of one child process; the CPU
    seconds are those of its own children too (logvec's text-stage workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    out = p.stdout.read().decode()  # type: ignore[union-attr]
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[:4]} failed with status {status}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out, wall, usage.ru_maxrss * 1024, cpu


def real_log(kind: str, lines: int, out: Path) -> None:
    """A real-shaped log of `lines` lines: the Loghub sample repeated."""
    source = {"hdfs": SHARED / "hdfs_5k" / "HDFS_5k.log"}[kind].read_text().splitlines()
    with open(out, "w") as f:
        for i in range(lines):
            f.write(source[i % len(source)] + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "default.yaml"))
    ap.add_argument("--real", choices=["hdfs"], help="a real-shaped log instead of generated lines")
    ap.add_argument("--rounds", type=int, default=2, help="peer and logvec alternated this many times")
    ap.add_argument("--skip-drain3", action="store_true", help="only the peer and logvec")
    a = ap.parse_args()

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.log"
        if a.real:
            real_log(a.real, a.lines, log)
        else:
            subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines),
                            "--out", str(log)], check=True, stdout=subprocess.DEVNULL)
        n = sum(1 for _ in open(log, "rb"))
        if not a.skip_drain3:
            for mode in ("raw", "parsed", "cached"):
                out, wall, rss, cpu = run_child([sys.executable, str(HERE / "peers" / "drain3_only.py"), mode,
                                                 str(log), a.pipeline])
                lines, templates = map(int, out.split())
                results[f"drain3-{mode}"] = {"wall_seconds": [wall], "peak_rss_mib": rss / 2**20,
                                             "cpu_seconds": [cpu], "templates": templates}
        logvec_bin = str(Path(sys.executable).parent / "logvec")
        for r in range(a.rounds):
            for name in ("peer", "logvec"):
                data = Path(tmp) / f"{name}-{r}"
                cmd = ([sys.executable, str(HERE / "peers" / "pipeline.py"), "--pipeline", a.pipeline]
                       if name == "peer" else [logvec_bin, "run", "--format", "json", "--pipeline", a.pipeline])
                out, wall, rss, cpu = run_child([*cmd, "--input", str(log), "--data-dir", str(data)])
                summary = json.loads(out)
                entry = results.setdefault(name, {"wall_seconds": [], "cpu_seconds": [], "peak_rss_mib": 0.0,
                                                  "stage_seconds": []})
                entry["wall_seconds"].append(wall)
                entry["cpu_seconds"].append(cpu)
                entry["peak_rss_mib"] = max(entry["peak_rss_mib"], rss / 2**20)
                entry["stage_seconds"].append(summary["stage_seconds"])
                entry["templates"] = summary["templates"]

    for entry in results.values():
        entry["median_wall_seconds"] = statistics.median(entry["wall_seconds"])
        entry["median_cpu_seconds"] = statistics.median(entry["cpu_seconds"])
        entry["lines_per_second"] = n / entry["median_wall_seconds"]
    result = {"input": a.real or "generated", "lines": n, "pipeline": a.pipeline, "rounds": a.rounds,
              "contenders": results,
              "logvec_over_peer": results["peer"]["median_wall_seconds"] / results["logvec"]["median_wall_seconds"]}
    save(f"throughput{'-' + a.real if a.real else ''}.json", result)
    print(f"{n:,} lines ({result['input']}), whole-process wall time, median of {a.rounds} for peer and logvec")
    print(f"{'':14} {'lines/s':>10} {'wall s':>8} {'CPU s':>7} {'peak RSS MiB':>13} {'templates':>10}")
    for name, e in results.items():
        print(f"{name:14} {e['lines_per_second']:>10,.0f} {e['median_wall_seconds']:>8.2f} "
              f"{e['median_cpu_seconds']:>7.2f} {e['peak_rss_mib']:>13,.0f} {e['templates']:>10}")
    print(f"logvec / peer: {result['logvec_over_peer']:.2f}x in wall time; CPU time "
          f"{results['logvec']['median_cpu_seconds']:.1f} s against {results['peer']['median_cpu_seconds']:.1f} s "
          f"(logvec's text stages run in worker processes, on the cores the machine has: {os.cpu_count()})")
    for name in ("peer", "logvec"):
        print(f"{name} stages (s, last round): {results[name]['stage_seconds'][-1]}")
    redact = statistics.median(s.get("redact", 0.0) for s in results["logvec"]["stage_seconds"])
    result["redact_share"] = redact / results["logvec"]["median_cpu_seconds"]
    save(f"throughput{'-' + a.real if a.real else ''}.json", result)
    print(f"redaction: {redact:.2f} s (summed over the worker processes), {result['redact_share']:.1%} of "
          "logvec's CPU time")


if __name__ == "__main__":
    main()
