"""Timestamps in the many shapes logs write them, parsed once per distinct string (logs repeat seconds a lot)."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

import numpy as np

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


# naive ISO 8601 (and a trailing Z): the shape most logs write, parsed for a whole batch by numpy in C
_ISO_BATCH = re.compile(r"(?:\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,6})?Z?\n)+")


# syslog's "Jul  1 00:21:28" (day padded with a space, as RFC 3164 writes it, or two digits), no year
_SYSLOG_BATCH = re.compile(r"(?:[A-Z][a-z]{2} (?: \d|\d\d) \d{2}:\d{2}:\d{2}\n)+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _this_year() -> int:
    """The year of a time that writes none (syslog): the current one, in UTC like naive times."""
    return datetime.now(timezone.utc).year


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

    def parse_many(self, values: list) -> np.ndarray:
        """`parse_value` for a batch: the naive ISO ones and the syslog ones each at once, the rest one by one
        (cached)."""
        out = np.full(len(values), np.nan)
        iso = [i for i, v in enumerate(values) if type(v) is str and v[4:5] == "-"]
        done = set(iso) if iso and self._iso_batch(values, iso, out) else set()
        if len(done) == len(values):
            return out
        rest = [i for i, v in enumerate(values) if v is not None and i not in done]
        syslog = [i for i in rest if type(values[i]) is str and values[i][3:4] == " "]
        if syslog and self._syslog_batch(values, syslog, out):
            taken = set(syslog)
            rest = [i for i in rest if i not in taken]
        if rest:
            out[rest] = [self.parse_value(values[i]) for i in rest]
        return out

    @staticmethod
    def _iso_batch(values: list, iso: list[int], out: np.ndarray) -> bool:
        joined = "\n".join([values[i] for i in iso]) + "\n"
        if not _ISO_BATCH.fullmatch(joined):
            return False
        texts = joined.replace(",", ".").replace("Z\n", "\n")[:-1].split("\n")
        try:
            out[iso] = np.array(texts, dtype="datetime64[us]").astype(np.int64) / 1e6
        except ValueError:  # an impossible date (Feb 30): one by one, where it becomes NaN
            return False
        return True

    @staticmethod
    def _syslog_batch(values: list, at: list[int], out: np.ndarray) -> bool:
        """Syslog times of this year, as fixed-width text rearranged by numpy into ISO (strptime is slow one at
        a time). False, and nothing written, unless every one has the shape and is a real date."""
        joined = "\n".join([values[i] for i in at]) + "\n"
        if not _SYSLOG_BATCH.fullmatch(joined):
            return False
        for number, month in enumerate(_MONTHS, 1):
            joined = joined.replace(f"{month} ", f"{number:02d} ")
        # now "MM DD HH:MM:SS\n" each (a space-padded day gets its 0); a name that is no month kept its three
        # letters, and so its line a character more
        text = joined.replace("  ", " 0").encode("ascii")
        if len(text) != 15 * len(at):
            return False
        src = np.frombuffer(text, dtype=np.uint8).reshape(len(at), 15)
        iso = np.empty((len(at), 19), dtype=np.uint8)
        iso[:, 0:5] = np.frombuffer(f"{_this_year():04d}-".encode(), dtype=np.uint8)
        iso[:, 5:7], iso[:, 7], iso[:, 8:10], iso[:, 10], iso[:, 11:19] = (
            src[:, 0:2], ord("-"), src[:, 3:5], ord("T"), src[:, 6:14])
        try:
            seconds = iso.view("S19").ravel().astype("datetime64[s]").astype(np.int64)
        except ValueError:  # Feb 30: one by one, where it becomes NaN
            return False
        out[at] = seconds
        return True

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
                    if "%Y" in fmt or "%y" in fmt:
                        dt = datetime.strptime(text, fmt)
                    else:  # no year written: read with this one, so that Feb 29 is a date in leap years
                        dt = datetime.strptime(f"{_this_year()} {text}", f"%Y {fmt}")
                except ValueError:
                    continue
                self._last = fmt
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


def iso_utc(ts: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC (`2026-12-07T06:24:16Z`, milliseconds when there are any); None for none,
    NaN, or a time no calendar shows (stored by a release that let such times in)."""
    if ts is None or not math.isfinite(ts):
        return None
    try:
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return dt.isoformat(timespec="milliseconds" if dt.microsecond else "seconds").replace("+00:00", "Z")
