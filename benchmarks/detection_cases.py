"""Labelled detection cases with chronological train/test splits, built from real logs and generators.

Every case is fitted on its TRAIN part and scored on its TEST part, which comes later in time; nothing is
scored on what it was fitted on. Real logs: Loghub (Zhu et al., ISSRE 2023); HDFS: Xu et al., SOSP 2009.

| case | level | what it checks |
|---|---|---|
| hdfs5k-chrono | session | real HDFS blocks, first 60% of blocks (normal ones only) → the rest |
| shop-clean-baseline | session | shop traces, a clean baseline → 3% anomalous of 5 kinds |
| shop-contaminated | session | shop traces, 0.3% of the baseline anomalous (3 kinds) → 3% of 5 kinds |
| shop-clean | session | shop traces, no anomaly anywhere: every flag is a false alarm |
| generated-lines | line | multi-service log, new error events at 0.1% of test lines |
| generated-clean | line | the same log with no anomaly: false alarms |
| thunderbird-faults | line | real supercomputer syslog, first half → second half, hardware and kernel faults injected |
| rate-storm | line | a known warning storming from 1/min to 80/min for 10 min, rare warnings at their usual rate |
| bgl-50 … bgl-80 | line | real supercomputer RAS log (Loghub BGL_2k, `--bgl PATH`), its labels, first 50-80% → rest |
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import generate_logs
import numpy as np
import trace_logs

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


@dataclass
class Case:
    name: str
    level: str  # line | session
    train: list[str]
    test: list[str]
    labels: dict[str, int]  # session key -> label, or 1-based test line number (as text) -> label
    session_key: str | None = None
    notes: str = ""

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        train, test, labels = folder / "train.log", folder / "test.log", folder / "labels.csv"
        train.write_text("\n".join(self.train) + "\n", encoding="utf-8")
        test.write_text("\n".join(self.test) + "\n", encoding="utf-8")
        with open(labels, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["key" if self.level == "session" else "line", "label"])
            w.writerows(self.labels.items())
        return train, test, labels


def hdfs5k_chrono() -> Case:
    lines = (DATA / "hdfs_5k" / "HDFS_5k.log").read_text().splitlines()
    with open(DATA / "hdfs_5k" / "block_labels.csv") as f:
        labels = {r["key"]: int(r["label"]) for r in csv.DictReader(f)}
    import re

    key = re.compile(r"(blk_-?\d+)")
    first: dict[str, int] = {}
    for i, line in enumerate(lines):
        m = key.search(line)
        if m:
            first.setdefault(m.group(1), i)
    blocks = sorted(first, key=first.get)
    cut = int(len(blocks) * 0.6)
    train_blocks = {b for b in blocks[:cut] if labels[b] == 0}
    test_blocks = set(blocks[cut:])
    train, test = [], []
    for line in lines:
        m = key.search(line)
        if m and m.group(1) in train_blocks:
            train.append(line)
        elif m and m.group(1) in test_blocks:
            test.append(line)
    return Case("hdfs5k-chrono", "session", train, test, {b: labels[b] for b in blocks[cut:]}, r"blk_-?\d+",
                f"{len(train_blocks)} normal train blocks, {len(test_blocks)} test blocks")


def _shop(name: str, train_rate: float, test_rate: float, train_kinds, test_kinds) -> Case:
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    train, _ = trace_logs.generate(20_000, seed=11, anomaly_rate=train_rate, kinds=train_kinds, start=start)
    test, labels = trace_logs.generate(10_000, seed=12, anomaly_rate=test_rate, kinds=test_kinds,
                                       start=start + timedelta(hours=2))
    return Case(name, "session", train, test, labels, trace_logs.TRACE_KEY)


def shop_contaminated() -> Case:
    return _shop("shop-contaminated", 0.003, 0.03, ("gateway_timeout", "login_storm", "missing_payment"),
                 trace_logs.KINDS)


def shop_clean_baseline() -> Case:
    return _shop("shop-clean-baseline", 0.0, 0.03, (), trace_logs.KINDS)


def shop_clean() -> Case:
    return _shop("shop-clean", 0.0, 0.0, (), ())


def _generated(name: str, rate: float) -> Case:
    train = [x for x, _ in generate_logs.generate(50_000, seed=21, anomaly_rate=0.0)]
    start = datetime(2026, 11, 2, tzinfo=timezone.utc)
    pairs = list(generate_logs.generate(50_000, seed=22, start=start, anomaly_rate=rate))
    return Case(name, "line", train, [x for x, _ in pairs], {str(i + 1): y for i, (_, y) in enumerate(pairs)})


def generated_lines() -> Case:
    return _generated("generated-lines", 0.001)


def generated_clean() -> Case:
    return _generated("generated-clean", 0.0)


THUNDERBIRD_FAULTS = [
    "kernel: EXT3-fs error (device sda5): ext3_journal_start_sb: Detected aborted journal",
    "kernel: mptscsih: ioc0: attempting task abort! (sc=000001017f5e{n:04x})",
    "kernel: EDAC k8 MC0: general bus error: participating processor(local node origin), time-out(no timeout)",
    "kernel: Kernel panic - not syncing: Fatal exception in interrupt",
    "kernel: VAPI_RETRY_EXC_ERR: completion with error on QP 0x{n:06x}",
    "kernel: ECC: uncorrectable memory error at address 0x{n:08x}, node halted",
]


def thunderbird_faults(seed: int = 31) -> Case:
    """The real Thunderbird sample in time order; hardware and kernel faults injected as bursts (a faulty
    node repeats its fault), a few in the first half too (a contaminated baseline)."""
    rng = np.random.default_rng(seed)
    raw = (DATA / "loghub_2k" / "Thunderbird" / "Thunderbird_2k.log").read_text(errors="replace").splitlines()
    half = len(raw) // 2

    def inject(lines: list[str], bursts: int, kinds: list[int]) -> tuple[list[str], list[int]]:
        out, labels = list(lines), [0] * len(lines)
        for b in range(bursts):
            at = int(rng.integers(1, len(out)))
            header = out[at - 1].split()
            # "- epoch date node Mon day time node/node": the neighbour's header, the alert's category as label
            prefix = " ".join(["KERN"] + header[1:8])
            fault = THUNDERBIRD_FAULTS[kinds[b % len(kinds)]]
            for _ in range(int(rng.integers(1, 6))):
                out.insert(at, f"{prefix} {fault.format(n=int(rng.integers(0, 2**24)))}")
                labels.insert(at, 1)
        return out, labels

    train, _ = inject(raw[:half], 2, [0, 1])
    test, labels = inject(raw[half:], 12, list(range(len(THUNDERBIRD_FAULTS))))
    return Case("thunderbird-faults", "line", train, test, {str(i + 1): y for i, y in enumerate(labels)},
                notes="Loghub Thunderbird_2k, faults injected")


RATE_EVENTS = [  # (service, level, template, per minute)
    ("api", "INFO", "request {r} served in {ms}ms", 120.0),
    ("api", "INFO", "health check ok", 6.0),
    ("db", "INFO", "query on {t} took {ms}ms", 60.0),
    ("db", "INFO", "checkpoint complete: wrote {n} buffers", 1.0),
    ("worker", "INFO", "job {r} finished", 20.0),
    ("storage", "WARN", "disk latency high on sd{d}: {ms}ms", 1.0),  # the one that storms
    ("api", "WARN", "client {r} sent a malformed header", 0.1),
    ("db", "WARN", "replication lag {n}s on replica {d}", 0.1),
    ("worker", "ERROR", "job {r} failed: upstream returned 503", 0.05),
]


def _rate_log(minutes: int, seed: int, start: datetime, storm: tuple[int, int] | None = None):
    """(lines, labels): Poisson traffic of RATE_EVENTS; during `storm` (first, last minute) the disk-latency
    warning comes at 80/min, those lines labeled 1. Known rare warnings burst now and then (2-3 at once)."""
    rng = np.random.default_rng(seed)
    events = []
    for m in range(minutes):
        for e, (service, level, template, rate) in enumerate(RATE_EVENTS):
            lam = 80.0 if storm and e == 5 and storm[0] <= m < storm[1] else rate
            n = int(rng.poisson(lam))
            if level != "INFO" and e != 5 and n:
                n += int(rng.integers(0, 3))  # rare warnings come in small bursts
            for _ in range(n):
                events.append((m * 60 + float(rng.uniform(0, 60)), e, int(lam == 80.0)))
    events.sort()
    lines, labels = [], []
    for at, e, bad in events:
        service, level, template, _ = RATE_EVENTS[e]
        msg = template.format(r=f"{int(rng.integers(0, 2**32)):08x}", ms=int(rng.integers(1, 900)),
                              t=["orders", "users"][int(rng.integers(2))], n=int(rng.integers(1, 999)),
                              d=int(rng.integers(0, 8)))
        ts = start + timedelta(seconds=at)
        lines.append(f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z {level} {service}: {msg}")
        labels.append(bad)
    return lines, labels


def rate_storm() -> Case:
    start = datetime(2026, 9, 1, tzinfo=timezone.utc)
    train, _ = _rate_log(60, 41, start)
    test, labels = _rate_log(120, 42, start + timedelta(hours=1), storm=(50, 60))
    return Case("rate-storm", "line", train, test, {str(i + 1): y for i, y in enumerate(labels)})


def bgl_chrono(path: Path, share: float) -> Case:
    """Loghub's BGL sample in time order, fitted on its first `share` (its alerts included: a baseline is
    whatever ran before) and scored on the rest; a line's first field is its alert category, "-" for none.
    Not shipped here: download BGL_2k.log from Loghub and pass `--bgl`."""
    raw = Path(path).read_text(errors="replace").splitlines()
    cut = int(len(raw) * share)
    test = raw[cut:]
    return Case(f"bgl-{round(share * 100)}", "line", raw[:cut], test,
                {str(i + 1): int(not line.startswith("- ")) for i, line in enumerate(test)},
                notes="Loghub BGL_2k, its own alert labels")


BGL_SHARES = (0.5, 0.6, 0.7, 0.8)

CASES = {"hdfs5k-chrono": hdfs5k_chrono, "shop-clean-baseline": shop_clean_baseline,
         "shop-contaminated": shop_contaminated, "shop-clean": shop_clean,
         "generated-lines": generated_lines, "generated-clean": generated_clean,
         "thunderbird-faults": thunderbird_faults, "rate-storm": rate_storm}
