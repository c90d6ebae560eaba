"""Multi-service shop traces: sessions keyed by a trace id, with normal minority paths and anomalous traces.

Each trace is one user action walking through several services (frontend, auth, cart, catalog, checkout,
payment, inventory, shipping, email, search); its lines carry `trace=<id>` and are interleaved with other traces
the way concurrent traffic is. Normal traffic has minority paths on purpose (a failed login retried in 1.65% of
logins, a coupon in 3% of checkouts, a 3-D Secure challenge in 2% of payments, cache misses), and trace ids are
16 hex digits that are now and then all digits.

Anomalous trace kinds (`KINDS`), each labeled 1:
* gateway_timeout — the payment gateway times out (a template normal traffic never writes), the order fails;
* missing_payment — an order is confirmed with no payment captured (a step missing);
* early_shipping — a shipping label is created before the payment is authorized (steps out of order);
* login_storm — a login retried 8-12 times (a known line, far more often than normal);
* oversold — inventory goes negative and the reservation is rolled back (new lines in a normal checkout).

    python benchmarks/trace_logs.py --traces 20000 --anomaly-rate 0.03 --kinds all --out t.log --labels t.csv
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

import numpy as np

KINDS = ("gateway_timeout", "missing_payment", "early_shipping", "login_storm", "oversold")
USERS = [f"user{i:03d}" for i in range(300)]
SKUS = [f"SKU-{i:05d}" for i in range(500)]


def _trace_id(rng: np.random.Generator) -> str:
    if rng.random() < 0.05:  # all digits: a hex id that a digit-only mask must not tell apart
        return "".join(str(d) for d in rng.integers(0, 10, 16))
    return "%016x" % int(rng.integers(0, 2**63))


def _steps(kind: str, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(service, level, message) steps of one trace; `kind` is a normal flow or an anomaly kind."""
    r = rng.random
    user, sku, ms = USERS[int(rng.integers(len(USERS)))], SKUS[int(rng.integers(len(SKUS)))], int(rng.integers(3, 400))
    amount = f"{int(rng.integers(1, 500))}.{int(rng.integers(0, 100)):02d}"
    flow = kind if kind in ("browse", "login", "checkout", "search") else (
        "login" if kind == "login_storm" else "checkout")
    s: list[tuple[str, str, str]] = []
    if flow == "browse":
        s.append(("frontend", "INFO", f"GET /product/{sku} from user {user}"))
        s.append(("catalog", "INFO", f"lookup {sku} in catalog"))
        if r() < 0.2:
            s.append(("catalog", "INFO", f"cache miss for {sku}, query took {ms}ms"))
        s.append(("frontend", "INFO", f"GET /product/{sku} 200 in {ms}ms"))
    elif flow == "search":
        s.append(("frontend", "INFO", f"GET /search from user {user}"))
        s.append(("search", "INFO", f"query returned {int(rng.integers(0, 200))} hits in {ms}ms"))
        s.append(("frontend", "INFO", f"GET /search 200 in {ms}ms"))
    elif flow == "login":
        s.append(("frontend", "INFO", f"POST /login user {user}"))
        retries = int(rng.integers(8, 13)) if kind == "login_storm" else (1 if r() < 0.0165 else 0)
        for _ in range(retries):
            s.append(("auth", "WARN", f"invalid password for user {user}, retrying"))
        s.append(("auth", "INFO", f"user {user} authenticated"))
        s.append(("frontend", "INFO", f"POST /login 200 in {ms}ms"))
    else:  # checkout
        s.append(("frontend", "INFO", f"POST /checkout user {user}"))
        s.append(("cart", "INFO", f"cart loaded with {int(rng.integers(1, 9))} items for user {user}"))
        if r() < 0.03:
            s.append(("cart", "INFO", f"coupon applied to cart of user {user}"))
        s.append(("inventory", "INFO", f"reserved {sku} qty {int(rng.integers(1, 5))}"))
        if kind == "oversold":
            s.append(("inventory", "ERROR", f"stock for {sku} went negative: -{int(rng.integers(1, 5))}"))
            s.append(("inventory", "WARN", f"reservation of {sku} rolled back"))
        pay = [("payment", "INFO", f"payment authorized amount={amount} EUR")]
        if r() < 0.02:
            pay.append(("payment", "INFO", "3-D Secure challenge passed"))
        pay.append(("payment", "INFO", f"payment captured in {ms}ms"))
        ship = [("shipping", "INFO", f"shipping label created for {sku}")]
        if kind == "gateway_timeout":
            s.append(("payment", "ERROR", f"payment gateway timeout after {int(rng.integers(30, 61))}000ms"))
            s.append(("frontend", "ERROR", f"POST /checkout 502 in {ms}ms"))
            return s
        if kind == "missing_payment":
            pay = []
        if kind == "early_shipping":
            s += ship + pay
        else:
            s += pay + ship
        s.append(("checkout", "INFO", f"order confirmed for user {user}"))
        s.append(("email", "INFO", f"confirmation sent to {user}@example.com"))
        s.append(("frontend", "INFO", f"POST /checkout 200 in {ms}ms"))
    return s


def generate(traces: int, seed: int = 1, anomaly_rate: float = 0.0, kinds: tuple[str, ...] = KINDS,
             start: datetime | None = None):
    """(lines, {trace id: label}): traces interleaved, each line `ISO-time LEVEL service: message trace=<id>`."""
    rng = np.random.default_rng(seed)
    t = start or datetime(2026, 10, 1, tzinfo=timezone.utc)
    flows = ("browse", "login", "checkout", "search")
    weights = np.array([0.4, 0.15, 0.3, 0.15])
    all_steps, labels = [], {}
    for _ in range(traces):
        tid = _trace_id(rng)
        while tid in labels:
            tid = _trace_id(rng)
        bad = bool(kinds) and rng.random() < anomaly_rate
        kind = kinds[int(rng.integers(len(kinds)))] if bad else flows[int(rng.choice(4, p=weights))]
        all_steps.append((tid, _steps(kind, rng)))
        labels[tid] = int(bad)
    # interleave: each trace starts at its own time and its steps follow 5-50 ms apart
    events = []
    for i, (tid, steps) in enumerate(all_steps):
        at = i * 0.05 + float(rng.exponential(0.05))
        for service, level, msg in steps:
            at += float(rng.uniform(0.005, 0.05))
            events.append((at, service, level, msg, tid))
    events.sort(key=lambda e: e[0])
    lines = []
    for at, service, level, msg, tid in events:
        ts = t + timedelta(seconds=at)
        lines.append(f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}Z {level} {service}: {msg} trace={tid}")
    return lines, labels


TRACE_KEY = r"trace=([0-9a-f]+)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--anomaly-rate", type=float, default=0.0)
    ap.add_argument("--kinds", default="all", help="comma-separated KINDS, or all")
    ap.add_argument("--out", required=True)
    ap.add_argument("--labels")
    a = ap.parse_args()
    kinds = KINDS if a.kinds == "all" else tuple(a.kinds.split(","))
    lines, labels = generate(a.traces, a.seed, a.anomaly_rate, kinds)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    if a.labels:
        with open(a.labels, "w", encoding="utf-8") as f:
            f.write("key,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))


if __name__ == "__main__":
    main()
