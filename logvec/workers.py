"""`logvec run --workers N`: N worker processes in one Kafka consumer group, sharing one data directory.

One Python process uses one core; a host with several gets its throughput from several workers, the way
Kafka scales a group (on Kubernetes: replicas). The parent only supervises: it starts the workers, passes
SIGTERM/SIGINT on (each finishes its batch and commits), stops the others when one fails, and adds up their
summaries. Worker i serves its metrics on `--metrics-port` + i.

Workers that find a model join the group together (`wait_for_siblings`): one after another, each arrival
would make the group rebalance — every member stops, hands back its partitions and re-reads what it had not
committed — which on a short backfill cost more than a third of the run. Together, but not at the same
instant: they leave the barrier `JOIN_STAGGER_S` apart, because Tansu holds one of two JoinGroup requests that
reach it within a few milliseconds of each other for a whole second (two kafka-python consumers started at
once: 3 of 10 pairs; started 3 or 30 ms apart: 0 of 20), while a group coordinator waits far longer than
that for its members to gather (Tansu 5 s with a 10 s session, Kafka 3 s).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


BARRIER_TIMEOUT_S = 60.0
BARRIER_POLL_S = 0.05
JOIN_STAGGER_S = 0.03


def worker_argv(pipeline: Path, index: int, barrier: Path, data_dir: Path | None, exit_when_idle: float | None,
                metrics_port: int | None) -> list[str]:
    argv = [sys.executable, "-m", "logvec", "run", "--pipeline", str(pipeline), "--format", "json",
            "--no-progress", "--worker-index", str(index), "--worker-barrier", str(barrier)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    if exit_when_idle is not None:
        argv += ["--exit-when-idle", str(exit_when_idle)]
    if metrics_port is not None:
        argv += ["--metrics-port", str(metrics_port + index)]
    return argv


def new_barrier(workers: int, parent: Path | None = None) -> Path:
    barrier = Path(tempfile.mkdtemp(prefix="logvec-workers-", dir=parent))
    (barrier / "expected").write_text(str(workers))
    return barrier


def wait_for_siblings(barrier: Path, index: int, timeout_s: float = BARRIER_TIMEOUT_S,
                      give_up: Callable[[], bool] = lambda: False) -> bool:
    """Mark this worker ready and wait until all are (or `timeout_s` passed: a sibling that failed to start
    does not hold the others; or `give_up()` says so: a stop request). True when all arrived; then worker i
    leaves i × `JOIN_STAGGER_S` after the common moment one poll past the last arrival (each sees that arrival
    within a poll, so none is late)."""
    expected = int((barrier / "expected").read_text())
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + timeout_s
    while len(ready := list(barrier.glob("ready-*"))) < expected:
        if time.monotonic() > deadline or give_up():
            return False
        time.sleep(BARRIER_POLL_S)
    last_arrival = max(p.stat().st_mtime for p in ready)
    time.sleep(max(0.0, last_arrival + BARRIER_POLL_S + index * JOIN_STAGGER_S - time.time()))
    return True


def run_workers(argvs: list[list[str]], poll_s: float = 0.2) -> tuple[list[dict], int]:
    """Run the workers to the end. Returns their summaries (of those that printed one) and the exit code:
    0, or the first failure's (the others are then asked to stop; a worker killed by signal N is 128 + N)."""
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE) for argv in argvs]  # stderr: the terminal's

    def forward(signum, frame) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = next((p.returncode for p in procs if p.returncode not in (None, 0)), 0)
            if failed and not code:
                code = failed
                forward(signal.SIGTERM, None)
            time.sleep(poll_s)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    code = code or next((p.returncode for p in procs if p.returncode != 0), 0)
    code = 128 - code if code < 0 else code
    summaries = []
    for p in procs:
        out = p.stdout.read().decode() if p.stdout else ""
        if out.strip():
            summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries, code
