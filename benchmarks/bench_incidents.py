"""Incidents on generated multi-service logs, and the API's latency over a million stored lines.

    python benchmarks/bench_incidents.py [--lines 1000000] [--queries 200]

1. Generates an hour of clean traffic (benchmarks/generate_logs.py, 50 lines a second) and fits on it, then
   `--lines` more (hours of them: what is stored) with three incidents written on top: the disk filling up on
   node-7, TLS certificates expiring between the gateway and payments, and the disk filling up on node-31. The
   generator's own rare errors keep coming all along (the background a detector flags now and then).
   The incidents' kinds and lines are not those the tests use (tests/synthetic.py), and nothing in grouping was
   tuned on this log.
2. Runs the default pipeline on it (`logvec run`, a child process), then reports: how many incidents, whether
   each injected incident is exactly one, the top similar incident of the second disk incident, and how many
   of the top 5 hits for "the disk is full" say "No space left on device".
3. Times the API in this process (FastAPI's TestClient, so routing and JSON are counted, the network is not):
   the incident list, similar incidents, and searches (half log lines drawn from the file, half questions in
   words). Reports p50 / p95 / max milliseconds each. Writes benchmarks/out/incidents.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from generate_logs import generate
from results import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START = datetime(2026, 11, 2, tzinfo=timezone.utc)
RATE = 50  # lines a second, as generate_logs writes them
QUESTIONS = ["the disk is full", "certificate expired", "out of memory", "user login failed", "slow queries",
             "kafka rebalance", "payment declined", "too many connections"]


def disk(node: str) -> list[tuple[str, str, str, float]]:
    return [("storage", "ERROR", f"write to /var/lib/data/segment/{{n}} on {node} failed: No space left on device", 20),
            ("storage", "WARN", "disk usage on /var/lib/data on " + node + " at 100%", 4),
            ("api-gateway", "ERROR", "upload req-{n} failed: storage " + node + " returned 507", 6)]


TLS = [("api-gateway", "ERROR", "TLS handshake with payments-{n} failed: certificate has expired", 25),
       ("payments", "ERROR", "payment {n} failed: upstream TLS error", 10)]


def burst(rng, at: datetime, minutes: int, events) -> list[tuple[datetime, str]]:
    out = []
    for second in range(minutes * 60):
        for service, level, text, per_minute in events:
            if rng.random() < per_minute / 60:
                t = at + timedelta(seconds=second + float(rng.random()))
                out.append((t, f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z {level} {service}: "
                               + text.format(n=int(rng.integers(100_000)))))
    return out


def write_logs(folder: Path, lines: int) -> tuple[Path, Path, list[tuple[datetime, datetime]]]:
    clean_n = 3600 * RATE
    clean = folder / "clean.log"
    clean.write_text("\n".join(line for line, _ in generate(clean_n, seed=11, start=START)) + "\n")
    t0 = START + timedelta(hours=1, minutes=1)
    rest = [line for line, _ in generate(lines, seed=12, start=t0)]
    span = timedelta(seconds=len(rest) / RATE)
    rng = np.random.default_rng(5)
    at = [t0 + span * f for f in (0.15, 0.5, 0.85)]
    injected = [burst(rng, at[0], 4, disk("node-7")), burst(rng, at[1], 5, TLS), burst(rng, at[2], 4, disk("node-31"))]
    extra = sorted(x for b in injected for x in b)
    out, j = [], 0
    for line in rest:  # each injected line goes in after the generated lines of its time
        while j < len(extra) and line[:4].isdigit() and extra[j][1][:23] <= line[:23]:
            out.append(extra[j][1])
            j += 1
        out.append(line)
    out += [x[1] for x in extra[j:]]
    hours = folder / "hours.log"
    hours.write_text("\n".join(out) + "\n")
    return clean, hours, [(b[0][0], b[-1][0]) for b in injected]


def timed(fn, items) -> dict:
    ms = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        ms.append((time.perf_counter() - t) * 1000)
    return {"requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(max(ms), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines stored (after the clean hour)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--pipeline", default=str(ROOT / "pipelines" / "default.yaml"))
    a = ap.parse_args()
    from fastapi.testclient import TestClient

    from logvec.access import AccessPolicy
    from logvec.api import create_app
    from logvec.config import load_pipeline

    exe = str(Path(sys.executable).parent / "logvec")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clean, hours, spans = write_logs(folder, a.lines)
        data = folder / "data"
        subprocess.run([exe, "fit", "-p", a.pipeline, "-i", str(clean), "-d", str(data)], check=True,
                       capture_output=True)
        t = time.perf_counter()
        subprocess.run([exe, "run", "-p", a.pipeline, "-i", str(hours), "-d", str(data)], check=True,
                       capture_output=True)
        run_s = time.perf_counter() - t
        stored = sum(1 for _ in open(hours))
        client = TestClient(create_app(load_pipeline(a.pipeline), data,
                                       access=AccessPolicy(open=True, allowed_hosts=("testserver",))))
        with client:
            incidents = client.get("/api/incidents", params={"limit": 100}).json()
            owners = []
            for first, last in spans:
                holding = [i["id"] for i in incidents
                           if i["start"] <= last.isoformat().replace("+00:00", "Z")
                           and i["end"] >= first.isoformat().replace("+00:00", "Z")]
                owners.append(holding)
            one_each = all(len(h) == 1 for h in owners) and len({h[0] for h in owners if h}) == 3
            similar = client.get(f"/api/incidents/{owners[2][0]}/similar").json() if owners[2] else []
            top_similar_is_first = bool(similar) and bool(owners[0]) and similar[0]["id"] == owners[0][0]
            hits = client.get("/api/search", params={"q": "the disk is full", "k": 5}).json()
            disk_hits = sum("No space left on device" in h["message"] for h in hits)

            rng = np.random.default_rng(3)
            all_lines = hours.read_text().splitlines()
            picks = [all_lines[int(i)] for i in rng.integers(0, len(all_lines), a.queries // 2)]
            queries = picks + [QUESTIONS[i % len(QUESTIONS)] for i in range(a.queries - len(picks))]
            ids = [i["id"] for i in incidents] or ["none"]
            latency = {
                "incident list": timed(lambda _: client.get("/api/incidents").raise_for_status(), range(a.queries)),
                "similar incidents": timed(
                    lambda i: client.get(f"/api/incidents/{ids[i % len(ids)]}/similar").raise_for_status(),
                    range(a.queries)),
                "search": timed(lambda q: client.post("/api/search", json={"q": q, "k": 10}).raise_for_status(),
                                queries),
            }
    result = {"lines_stored": stored, "run_seconds": round(run_s, 1), "incidents": len(incidents),
              "incidents_min_anomalies": [i["anomalies"] for i in incidents],
              "each_injected_incident_is_one": one_each, "second_disk_top_similar_is_first": top_similar_is_first,
              "top_similar_score": similar[0]["score"] if similar else None,
              "disk_is_full_top5_no_space": disk_hits, "latency": latency}
    for k, v in result.items():
        print(f"{k}: {v}")
    save("incidents.json", result)


if __name__ == "__main__":
    main()
