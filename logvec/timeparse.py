"""Timestamps in the many shapes logs write them, parsed once per distinct string (logs repeat seconds a lot)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

BUILTIN_FORMATS = (
    "%Y-%m-%d %H:%M:%S,%f",
    "%y%m%d %H%M%S",  # HDFS
    "%b %d %H:%M:%S",  # syslog (no year: the current one)
    "%d/%b/%Y:%H:%M:%S %z",  # Apache access log
    "%a %b %d %H:%M:%S %Y",  # Apache error log
    "%Y%m%d-%H:%M:%S:%f",
    "%y/%m/%d %H:%M:%S",  # Spark
    "%Y-%m-%d-%H.%M.%S.%f",
)


class TimestampParser:
    """`parse(text) -> epoch seconds` (NaN when no format fits); naive times are taken as UTC."""

    def __init__(self, formats: list[str] | tuple[str, ...] = (), cache_size: int = 100_000) -> None:
        self.formats = list(formats) + [f for f in BUILTIN_FORMATS if f not in formats]
        self.cache_size = cache_size
        self._cache: dict[str, float] = {}
        self._last: str | None = None

    def parse(self, text: str | None) -> float:
        if not text:
            return math.nan
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        value = self._parse(text.strip())
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[text] = value
        return value

    def parse_value(self, value: object) -> float:
        """JSON values: numbers are epoch seconds (or milliseconds when too large for seconds)."""
        if isinstance(value, bool) or value is None:
            return math.nan
        if isinstance(value, (int, float)):
            v = float(value)
            return v / 1000.0 if v > 1e11 else v
        return self.parse(str(value))

    def _parse(self, text: str) -> float:
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace(",", "."))
        except ValueError:
            dt = None
        if dt is None:
            if text.replace(".", "", 1).isdigit():
                return self.parse_value(float(text))
            order = [self._last] + self.formats if self._last else self.formats
            for fmt in order:
                try:
                    dt = datetime.strptime(text, fmt)
                except ValueError:
                    continue
                self._last = fmt
                if "%Y" not in fmt and "%y" not in fmt:
                    dt = dt.replace(year=datetime.now(timezone.utc).year)
                break
        if dt is None:
            return math.nan
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()


def parse_time_arg(text: str) -> float:
    """CLI times: ISO 8601, epoch seconds, or relative like `2h`, `30m`, `7d` ago."""
    import re
    import time

    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text.strip())
    if m:
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return time.time() - float(m.group(1)) * mult
    value = TimestampParser().parse(text)
    if math.isnan(value):
        raise ValueError(f"cannot read {text!r} as a time (use ISO 8601, epoch seconds, or 2h/30m/7d)")
    return value
