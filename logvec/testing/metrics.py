"""Reading a worker's Prometheus endpoint the way a scraper does."""

from __future__ import annotations

import urllib.request


def parse_metrics(text: str) -> dict[str, float]:
    """Every `logvec_*` sample of a Prometheus text page, by name with its labels."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("logvec_"):
            name, value = line.rsplit(" ", 1)
            out[name] = out.get(name, 0.0) + float(value)
    return out


def scrape(port: int, host: str = "127.0.0.1") -> dict[str, float]:
    """Every `logvec_*` sample on http://HOST:PORT/metrics, by name with its labels; {} while nothing serves."""
    try:
        text = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    return parse_metrics(text)
