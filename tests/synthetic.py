"""Small labeled logs with known anomalies of each kind, built from a seed (for detector tests)."""

from __future__ import annotations

import numpy as np

NORMAL_LINES = [
    "user {u} logged in from 10.0.{a}.{b}",
    "GET /api/v1/orders/{n} returned 200 in {ms}ms",
    "POST /api/v1/payments/{n} returned 201 in {ms}ms",
    "cache hit for key session:{n}",
    "query on orders took {ms}ms rows={n}",
    "job {n} finished in {ms}ms exit_code=0",
]
NEW_ERRORS = [
    "kernel: Out of memory: Killed process {n} (java) total-vm:{ms}kB",
    "disk /dev/sda{a} failed: I/O error reading sector {n}",
]


def _fill(rng: np.random.Generator, template: str) -> str:
    return template.format(u=["alice", "bob", "carol", "dave"][int(rng.integers(4))], a=int(rng.integers(9)),
                           b=int(rng.integers(250)), n=int(rng.integers(100000)), ms=int(rng.integers(1, 900)))


def line_logs(n: int, seed: int = 0, anomalies: int = 0, rare_known: str | None = None, rare_every: int = 0):
    """(lines, labels): normal traffic with `anomalies` lines from never-seen error templates mixed in;
    `rare_known` (a template) appears every `rare_every` lines and counts as anomalous."""
    rng = np.random.default_rng(seed)
    lines = [_fill(rng, NORMAL_LINES[int(rng.integers(len(NORMAL_LINES)))]) for _ in range(n)]
    labels = [0] * n
    for pos in rng.choice(n, size=anomalies, replace=False).tolist():
        lines[pos] = _fill(rng, NEW_ERRORS[pos % len(NEW_ERRORS)])
        labels[pos] = 1
    if rare_known and rare_every:
        for pos in range(rare_every // 2, n, rare_every):
            lines[pos] = _fill(rng, rare_known)
            labels[pos] = 1
    return lines, labels


WORKFLOW = ["session {s} opened by {u}", "session {s} authenticated", "session {s} read {n} bytes",
            "session {s} wrote {n} bytes", "session {s} closed after {ms}ms"]


def session_logs(n_sessions: int, seed: int = 0, broken: dict[str, int] | None = None):
    """(lines, labels by session key). Normal sessions follow WORKFLOW (read/write repeated 1-3 times);
    `broken` asks for sessions with a `missing` step, steps `swapped` out of order, a known step in the
    `wrong_place`, a `new_error`, or `many` repeats of one step (counts), each labeled anomalous."""
    rng = np.random.default_rng(seed)
    broken = broken or {}
    kinds = [k for k, c in broken.items() for _ in range(c)]
    kinds += [""] * (n_sessions - len(kinds))
    rng.shuffle(kinds)
    sessions, labels = [], {}
    for i, kind in enumerate(kinds):
        key = f"s{i:05d}"
        steps = [0, 1] + [2, 3] * int(rng.integers(1, 4)) + [4]
        if kind == "missing":
            steps.remove(1)
        elif kind == "swapped":
            steps[0], steps[1] = steps[1], steps[0]
        elif kind == "wrong_place":
            steps = steps[:-1] + [4, 1]  # "authenticated" after "closed"
        elif kind == "new_error":
            steps.insert(3, -1)
        elif kind == "many":
            steps = steps[:2] + [2] * 60 + steps[2:]
        lines = []
        for st in steps:
            text = "session {s} failed: token signature invalid" if st < 0 else WORKFLOW[st]
            lines.append(text.format(s=key, u="alice", n=int(rng.integers(1, 5000)), ms=int(rng.integers(1, 900))))
        sessions.append(lines)
        labels[key] = int(bool(kind))
    # interleave sessions the way concurrent traffic does, keeping each session's own order
    cursors = [0] * len(sessions)
    out = []
    live = list(range(len(sessions)))
    while live:
        j = live[int(rng.integers(len(live)))]
        out.append(sessions[j][cursors[j]])
        cursors[j] += 1
        if cursors[j] == len(sessions[j]):
            live.remove(j)
    return out, labels


RATE_EVENTS = [  # (service, level, message, per minute)
    ("api", "INFO", "request {r} served in {ms}ms", 60.0),
    ("api", "INFO", "heartbeat ok", 30.0),
    ("db", "INFO", "query took {ms}ms", 30.0),
    ("storage", "WARN", "disk latency high on sd{d}: {ms}ms", 1.0),
    ("api", "WARN", "client {r} sent a malformed header", 0.2),
]


def rate_logs(minutes: int, seed: int = 0, start: float = 1_699_999_980.0,
              storm: tuple[int, int] | None = None, silent: tuple[int, int] | None = None):
    """(lines, labels): Poisson traffic of RATE_EVENTS, one ISO line each. During `storm` (first, last minute)
    the disk-latency warning comes at 80/min, those lines labeled 1; during `silent` the heartbeat stops.
    `start` falls on a whole minute, so the minutes are the rate windows."""
    from datetime import datetime, timezone

    rng = np.random.default_rng(seed)
    events = []
    for m in range(minutes):
        for e, (_, _, _, rate) in enumerate(RATE_EVENTS):
            storming = storm is not None and e == 3 and storm[0] <= m < storm[1]
            if silent is not None and e == 1 and silent[0] <= m < silent[1]:
                continue
            for _ in range(int(rng.poisson(80.0 if storming else rate))):
                events.append((start + m * 60 + float(rng.uniform(0, 60)), e, int(storming)))
    events.sort()
    lines, labels = [], []
    for at, e, bad in events:
        service, level, text, _ = RATE_EVENTS[e]
        msg = text.format(r=f"r{int(rng.integers(0, 10**6))}", ms=int(rng.integers(1, 900)), d=int(rng.integers(8)))
        ts = datetime.fromtimestamp(at, tz=timezone.utc)
        lines.append(f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z {level} {service}: {msg}")
        labels.append(bad)
    return lines, labels


# Traffic of a small shop, per minute, for incident tests: (service, level, text, lines a minute).
SHOP_EVENTS = [
    ("api", "INFO", "GET /api/v1/orders/{n} returned 200 in {ms}ms", 30.0),
    ("api", "INFO", "POST /api/v1/payments/{n} returned 201 in {ms}ms", 10.0),
    ("auth", "INFO", "user {u} logged in from 10.0.{a}.{b}", 8.0),
    ("db", "INFO", "query on orders took {ms}ms rows={n}", 20.0),
    ("storage", "INFO", "wrote {n} bytes to /data/seg{n} on {node}", 10.0),
    ("storage", "INFO", "disk usage on /data at {pct}% on {node}", 1.0),
    ("scheduler", "INFO", "job {n} finished in {ms}ms exit_code=0", 3.0),
    ("cache", "INFO", "cache hit for key session:{n}", 15.0),
    ("api", "WARN", "client {r} sent a malformed header", 0.2),
    ("db", "WARN", "slow query on orders took {ms}ms", 0.3),
    ("payments", "ERROR", "payment {n} declined by issuer: insufficient funds", 0.5),  # errors that always come
    ("auth", "ERROR", "token {r} rejected: signature mismatch", 0.1),
]
# What an incident of each kind writes, a minute, while it lasts (on the incident's node where there is one).
INCIDENT_KINDS = {
    "disk_full": [
        ("storage", "ERROR", "write to /data/seg{n} on {node} failed: No space left on device", 12.0),
        ("storage", "WARN", "disk usage on /data at 100% on {node}", 3.0),
        ("api", "ERROR", "upload {r} to {node} failed: write error", 4.0),
    ],
    "db_down": [
        ("db", "ERROR", "could not connect to primary 10.0.0.5:5432: connection refused", 10.0),
        ("api", "ERROR", "request {r} failed: upstream db timeout after 5000ms", 8.0),
        ("scheduler", "ERROR", "job {n} failed: database unavailable", 2.0),
    ],
}


def incident_logs(minutes: int, seed: int = 0, start: float = 1_700_000_000.0,
                  incidents: list[tuple[str, int, int, str]] = ()):
    """(lines, labels): shop traffic (SHOP_EVENTS) for `minutes`, with `incidents` given as (kind, first
    minute, minutes it lasts, node) writing INCIDENT_KINDS' lines on top, those labeled by the incident's index
    + 1 (0: normal traffic)."""
    from datetime import datetime, timezone

    rng = np.random.default_rng(seed)
    nodes = [f"node-{i:02d}" for i in range(8)]
    events = []  # (time, service, level, text, node, label)
    for m in range(minutes):
        for service, level, text, rate in SHOP_EVENTS:
            for _ in range(int(rng.poisson(rate))):
                events.append((start + m * 60 + float(rng.uniform(0, 60)), service, level, text,
                               nodes[int(rng.integers(len(nodes)))], 0))
        for i, (kind, first, length, node) in enumerate(incidents):
            if first <= m < first + length:
                for service, level, text, rate in INCIDENT_KINDS[kind]:
                    for _ in range(int(rng.poisson(rate))):
                        events.append((start + m * 60 + float(rng.uniform(0, 60)), service, level, text, node, i + 1))
    events.sort(key=lambda e: e[0])
    lines, labels = [], []
    for at, service, level, text, node, label in events:
        msg = text.format(u=["alice", "bob", "carol", "dave"][int(rng.integers(4))], a=int(rng.integers(9)),
                          b=int(rng.integers(250)), n=int(rng.integers(100000)), ms=int(rng.integers(1, 900)),
                          r=f"r{int(rng.integers(0, 10**6))}", pct=int(rng.integers(40, 80)), node=node)
        ts = datetime.fromtimestamp(at, tz=timezone.utc)
        lines.append(f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z {level} {service}: {msg}")
        labels.append(label)
    return lines, labels
