"""Generate realistic multi-service logs of any size (for throughput benchmarks and tests).

Several services write ISO-timestamped lines with levels, from ~60 event templates whose variables are the
kinds real logs carry: request and trace ids, UUIDs, IPs with ports, paths, URLs, users, durations, sizes,
HTTP statuses, hex addresses. Errors are rare and bursty; a few lines are syslog-style or unparseable, as in
real mixed streams. Deterministic for a given seed.

    python benchmarks/generate_logs.py --lines 1000000 --out /tmp/bench.log [--seed 7]
    python benchmarks/generate_logs.py --lines 100000 --anomaly-rate 0.001 --out t.log --labels t.csv
"""

from __future__ import annotations

import argparse
import gzip
import sys
from datetime import datetime, timedelta, timezone

import numpy as np

# (service, level, template, weight). Fields: {ip} {port} {uuid} {req} {user} {ms} {n} {path} {url} {hex}
# {status} {bytes} {host} {table} {topic} {part}
EVENTS: list[tuple[str, str, str, float]] = [
    ("api-gateway", "INFO", 'request {req} "GET {path} HTTP/1.1" {status} {bytes}B in {ms}ms from {ip}:{port}', 30),
    ("api-gateway", "INFO", 'request {req} "POST {path} HTTP/1.1" {status} {bytes}B in {ms}ms from {ip}:{port}', 12),
    ("api-gateway", "WARN", "upstream {host} slow: {ms}ms for request {req}", 1.5),
    ("api-gateway", "ERROR", "upstream {host} returned 502 Bad Gateway for request {req}", 0.2),
    ("api-gateway", "INFO", "rate limiter allowed {n} requests for client {ip} in window", 3),
    ("api-gateway", "WARN", "rate limit exceeded for client {ip}: {n} requests in 60s", 0.4),
    ("auth-service", "INFO", "user {user} logged in from {ip} session={uuid}", 8),
    ("auth-service", "INFO", "user {user} logged out session={uuid}", 6),
    ("auth-service", "WARN", "failed login for user {user} from {ip}: invalid password", 1.2),
    ("auth-service", "ERROR", "account {user} locked after {n} failed attempts", 0.1),
    ("auth-service", "INFO", "issued token for user {user} expires_in={n}s", 7),
    ("auth-service", "INFO", "refreshed token {hex} for user {user}", 4),
    ("payments", "INFO", "payment {uuid} authorized amount={n}.{n} currency=EUR user={user}", 5),
    ("payments", "INFO", "payment {uuid} captured in {ms}ms", 5),
    ("payments", "WARN", "payment {uuid} retry {n} of 3 after timeout talking to {url}", 0.5),
    ("payments", "ERROR", "payment {uuid} declined by issuer: insufficient funds", 0.3),
    ("payments", "ERROR", "payment {uuid} failed: connection reset by peer {ip}:{port}", 0.05),
    ("payments", "INFO", "refund {uuid} issued for payment {uuid}", 0.8),
    ("db-proxy", "INFO", "query on {table} took {ms}ms rows={n}", 20),
    ("db-proxy", "WARN", "slow query on {table} took {ms}ms rows={n}", 1),
    ("db-proxy", "INFO", "connection pool size={n} active={n} idle={n}", 4),
    ("db-proxy", "ERROR", "deadlock detected on {table}, transaction {hex} rolled back", 0.05),
    ("db-proxy", "ERROR", "could not connect to primary {ip}:5432: connection refused", 0.03),
    ("db-proxy", "INFO", "vacuum of {table} finished: removed {n} dead tuples in {ms}ms", 0.5),
    ("scheduler", "INFO", "job {req} scheduled on node {host}", 4),
    ("scheduler", "INFO", "job {req} started pid={n}", 4),
    ("scheduler", "INFO", "job {req} finished in {ms}ms exit_code=0", 3.8),
    ("scheduler", "ERROR", "job {req} failed with exit_code={n} after {ms}ms", 0.15),
    ("scheduler", "WARN", "node {host} missed heartbeat ({n}s since last)", 0.2),
    ("scheduler", "INFO", "cron {path} triggered", 1),
    ("storage", "INFO", "wrote {bytes} bytes to {path}", 8),
    ("storage", "INFO", "read {bytes} bytes from {path} in {ms}ms", 10),
    ("storage", "WARN", "disk usage on {path} at {n}%", 0.3),
    ("storage", "ERROR", "write to {path} failed: No space left on device", 0.02),
    ("storage", "INFO", "compaction of segment {hex} merged {n} files", 0.6),
    ("storage", "INFO", "replicated block {hex} to {ip}:{port}", 5),
    ("kafka-consumer", "INFO", "fetched {n} records from {topic}-{part} offset={n}", 10),
    ("kafka-consumer", "INFO", "committed offset {n} for {topic}-{part}", 8),
    ("kafka-consumer", "WARN", "rebalance started for group {topic}-consumers generation {n}", 0.1),
    ("kafka-consumer", "INFO", "partitions assigned: {topic}-{part}, {topic}-{part}", 0.1),
    ("kafka-consumer", "ERROR", "commit failed for {topic}-{part}: CommitFailedError", 0.02),
    ("search", "INFO", "query {req} returned {n} hits in {ms}ms", 9),
    ("search", "INFO", "indexed {n} documents into {table} in {ms}ms", 3),
    ("search", "WARN", "circuit breaker tripped: heap usage {n}% over limit", 0.05),
    ("search", "INFO", "refreshed index {table} version {n}", 1),
    ("cache", "INFO", "cache hit ratio {n}% over last {n}s", 2),
    ("cache", "INFO", "evicted {n} keys from shard {n}", 2),
    ("cache", "WARN", "memory fragmentation ratio {n}.{n} on {host}", 0.2),
    ("cache", "DEBUG", "GET key session:{uuid} hit", 6),
    ("cache", "DEBUG", "SET key session:{uuid} ttl={n}", 4),
    ("mailer", "INFO", "sent email {uuid} to {user}@example.com via {host}", 1.5),
    ("mailer", "WARN", "bounce from {user}@example.com: mailbox full", 0.1),
    ("mailer", "ERROR", "SMTP {host} refused connection: 421 too many connections", 0.02),
    ("k8s-agent", "INFO", "pod {host} ready in {ms}ms", 1),
    ("k8s-agent", "WARN", "pod {host} restarted {n} times: CrashLoopBackOff", 0.05),
    ("k8s-agent", "ERROR", "pod {host} OOMKilled: memory limit {n}Mi exceeded", 0.02),
    ("k8s-agent", "INFO", "liveness probe ok for {host} at {url}", 6),
    ("k8s-agent", "INFO", "pulled image registry.local/{table}:{n}.{n}.{n} in {ms}ms", 0.3),
    ("billing", "INFO", "invoice {uuid} generated for account {user} total={n}.{n}", 1),
    ("billing", "ERROR", "invoice {uuid} generation failed: NullPointerException at Invoice.java:{n}", 0.02),
]
# Events the normal stream never produces: injected with --anomalies, and labeled 1.
ANOMALIES: list[tuple[str, str, str]] = [
    ("storage", "ERROR", "fsync of {path} failed: Input/output error on device sd{part}"),
    ("db-proxy", "ERROR", "replication slot {table} lost: WAL segment {hex} removed"),
    ("api-gateway", "ERROR", "TLS handshake with {host} failed: certificate has expired"),
    ("k8s-agent", "ERROR", "kernel: Out of memory: Killed process {n} (java) score {n}"),
    ("payments", "ERROR", "ledger mismatch for payment {uuid}: expected {n}.{n} got {n}.{n}"),
    ("auth-service", "WARN", "token {hex} replayed from {ip} after revocation"),
]
USERS = [f"{a}{b}" for a in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
                              "mallory", "oscar", "peggy", "trent", "victor", "walter") for b in ("", "_ops", "2")]
TABLES = ["orders", "users", "payments", "sessions", "events", "inventory", "audit_log", "invoices"]
TOPICS = ["logs", "orders", "clicks", "payments", "audit"]
PATHS = ["/api/v1/orders", "/api/v1/users", "/api/v2/search", "/var/lib/data/segment", "/srv/uploads/img",
         "/api/v1/payments", "/healthz", "/etc/app/config.yaml", "/tmp/spool/batch"]
JUNK = ["\x00\x01\x02garbage\x03\x04", "----", "}", "   at com.example.Invoice.render(Invoice.java:88)"]


class _Fields(dict):
    """Format fields, drawn fresh for each occurrence of a field (two {n} in one line differ)."""

    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        r = self.rng
        if key == "ip":
            return f"10.{r.integers(0, 256)}.{r.integers(0, 256)}.{r.integers(1, 255)}"
        if key == "port":
            return str(r.integers(1024, 65535))
        if key == "uuid":
            parts = r.integers(0, [2**32, 2**16, 2**12, 2**12, 2**48])
            return "%08x-%04x-4%03x-a%03x-%012x" % tuple(int(x) for x in parts)
        if key == "req":
            return "req-%010x" % int(r.integers(0, 2**40))
        if key == "hex":
            return "%016x" % int(r.integers(0, 2**63))
        if key == "user":
            return USERS[int(r.integers(0, len(USERS)))]
        if key == "ms":
            return str(int(r.lognormal(3, 1)))
        if key == "n":
            return str(int(r.integers(0, 1000)))
        if key == "bytes":
            return str(int(r.lognormal(8, 2)))
        if key == "status":
            return str(r.choice([200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 500]))
        if key == "path":
            return PATHS[int(r.integers(0, len(PATHS)))] + f"/{int(r.integers(0, 10000))}"
        if key == "url":
            return f"https://svc-{int(r.integers(0, 20))}.internal.example.com/v1/{int(r.integers(0, 999))}"
        if key == "host":
            return f"node-{int(r.integers(0, 64))}-{'abcdef'[int(r.integers(0, 6))]}"
        if key == "table":
            return TABLES[int(r.integers(0, len(TABLES)))]
        if key == "topic":
            return TOPICS[int(r.integers(0, len(TOPICS)))]
        if key == "part":
            return str(int(r.integers(0, 12)))
        raise KeyError(key)


def generate(lines: int, seed: int = 7, start: datetime | None = None, anomaly_rate: float = 0.0):
    """Yield `lines` (line, label) pairs; label 1 for the injected anomalies (`anomaly_rate` of the lines)."""
    rng = np.random.default_rng(seed)
    weights = np.array([w for *_, w in EVENTS], dtype=np.float64)
    weights /= weights.sum()
    t = start or datetime(2026, 11, 1, tzinfo=timezone.utc)
    chunk = 10_000
    done = 0
    while done < lines:
        n = min(chunk, lines - done)
        picks = rng.choice(len(EVENTS), size=n, p=weights)
        gaps = rng.exponential(0.02, size=n)
        kinds = rng.random(n)
        injected = rng.random(n) < anomaly_rate
        for ev, gap, kind, bad in zip(picks.tolist(), gaps.tolist(), kinds.tolist(), injected.tolist()):
            t += timedelta(seconds=gap)
            service, level, template = (ANOMALIES[ev % len(ANOMALIES)] if bad else EVENTS[ev][:3])
            msg = template.format_map(_Fields(rng))
            if kind < 0.0005 and not bad:
                yield JUNK[int(rng.integers(0, len(JUNK)))], 0
            elif kind < 0.05:  # syslog-style lines from the same fleet
                pid = int(rng.integers(100, 9999))
                yield f"{t:%b} {t.day:2d} {t:%H:%M:%S} {service}-host {service}[{pid}]: {msg}", int(bad)
            else:
                yield f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z {level} {service}: {msg}", int(bad)
        done += n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="-", help="file (.gz compresses) or - for stdout")
    ap.add_argument("--anomaly-rate", type=float, default=0.0, help="share of lines from never-normal events")
    ap.add_argument("--labels", help="write line,label CSV here (1 = injected anomaly)")
    a = ap.parse_args()
    if a.out == "-":
        f = sys.stdout
    else:
        f = gzip.open(a.out, "wt", encoding="utf-8") if a.out.endswith(".gz") else open(a.out, "w", encoding="utf-8")
    labels = open(a.labels, "w", encoding="utf-8") if a.labels else None
    if labels:
        labels.write("line,label\n")
    buf = []
    for n, (line, label) in enumerate(generate(a.lines, a.seed, anomaly_rate=a.anomaly_rate), start=1):
        buf.append(line)
        if labels:
            labels.write(f"{n},{label}\n")
        if len(buf) >= 10_000:
            f.write("\n".join(buf) + "\n")
            buf = []
    if buf:
        f.write("\n".join(buf) + "\n")
    if f is not sys.stdout:
        f.close()
    if labels:
        labels.close()


if __name__ == "__main__":
    main()
