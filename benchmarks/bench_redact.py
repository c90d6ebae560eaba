"""What redaction costs and what it finds, beside detect-secrets' scanner.

    python benchmarks/bench_redact.py [--lines 200000]

* cost: the redactor alone on generated lines and on Loghub's HDFS_5k repeated (µs a line, batches of 4,096),
  and the same HDFS batch with one non-ASCII character in it (the byte views keep that case as fast);
* recall: every secret of tests/secret_corpus.py for 50 seeds (22 kinds, fresh values each seed);
* false positives: lines changed on each of the 15 clean Loghub systems;
* detect-secrets 1.5 (when installed: `pip install detect-secrets`): its per-line scanner on the same lines,
  time and how many of the corpus lines it flags at all.
Its share of a whole `logvec run` is measured by bench_throughput.py (the `redact` stage against the wall time).
Writes benchmarks/out/redact.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
SYSTEMS = ["Android", "Apache", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH", "OpenStack",
           "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]

from logvec.redact import Redactor  # noqa: E402
from tests.secret_corpus import leaked, secrets  # noqa: E402


def per_line(lines: list[str], rounds: int = 3) -> float:
    """Best of `rounds`, microseconds a line, batches of 4,096."""
    best = float("inf")
    for _ in range(rounds):
        r = Redactor()
        t = time.perf_counter()
        for i in range(0, len(lines), 4096):
            r.redact(lines[i:i + 4096])
        best = min(best, time.perf_counter() - t)
    return best / len(lines) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=200_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "gen.log"
        subprocess.run([sys.executable, str(HERE / "generate_logs.py"), "--lines", str(a.lines), "--out", str(log)],
                       check=True, stdout=subprocess.DEVNULL)
        generated = log.read_text(errors="replace").splitlines()
    hdfs = (SHARED / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
    hdfs = (hdfs * (a.lines // len(hdfs) + 1))[:a.lines]
    accented = [line + ("é" if i % 4096 == 0 else "") for i, line in enumerate(hdfs)]
    cost = {"generated": per_line(generated), "hdfs": per_line(hdfs), "hdfs_one_non_ascii_a_batch": per_line(accented)}

    corpus = [s for seed in range(50) for s in secrets(seed)]
    out, changed = Redactor().redact([s.line for s in corpus])
    missed = leaked("\n".join(out).encode(), corpus)
    recall = {"secrets": len(corpus), "kinds": len({s.kind for s in corpus}), "lines_changed": len(changed),
              "values_left": len(missed), "missed_kinds": sorted({s.kind for s in missed})}

    false_positives = {}
    for system in SYSTEMS:
        lines = (SHARED / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
        r = Redactor()
        _, changed = r.redact(lines)
        false_positives[system] = {"lines": len(lines), "changed": len(changed), "by_kind": r.counts}

    peer = None
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import default_settings
    except ImportError:
        print("detect-secrets is not installed: its column is left out")
    else:
        sample = generated[:5000]
        with default_settings():
            t = time.perf_counter()
            for line in sample:
                list(scan_line(line))
            us = (time.perf_counter() - t) / len(sample) * 1e6
            flagged = sum(1 for s in corpus if list(scan_line(s.line)))
        peer = {"us_per_line_generated": us, "corpus_lines_flagged": flagged, "corpus_lines": len(corpus)}

    result = {"cost_us_per_line": cost, "recall": recall, "loghub_false_positives": false_positives,
              "detect_secrets": peer}
    save("redact.json", result)
    print(f"{'':28} {'µs/line':>8}")
    for name, us in cost.items():
        print(f"{name:28} {us:>8.2f}")
    if peer:
        print(f"{'detect-secrets scan_line':28} {peer['us_per_line_generated']:>8.2f}  (generated)")
    print(f"recall: {len(corpus) - len(missed)}/{len(corpus)} secrets of {recall['kinds']} kinds redacted"
          + (f"; missed: {recall['missed_kinds']}" if missed else "")
          + (f"; detect-secrets flags {peer['corpus_lines_flagged']}/{len(corpus)} of those lines" if peer else ""))
    worst = max(false_positives.items(), key=lambda kv: kv[1]["changed"] / kv[1]["lines"])
    print("clean Loghub lines changed: " + ", ".join(f"{k} {v['changed']}" for k, v in false_positives.items()
                                                     if v["changed"])
          + f" (worst {worst[0]}: {worst[1]['changed'] / worst[1]['lines']:.1%})")


if __name__ == "__main__":
    main()
