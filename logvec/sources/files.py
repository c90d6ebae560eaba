"""Read log files (several paths, globs, gzip) and streams in batches of decoded lines.

Bytes are decoded here, once: invalid UTF-8 is replaced and flagged `decode_error`; a line longer than
`parse.max_line_size` is cut there and flagged `truncated` (the rest of it is skipped, not read into memory).
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from logvec.records import RawBatch


def expand_paths(patterns: list[str]) -> list[Path]:
    """Globs expanded in sorted order; a pattern that matches nothing is an error, not silence."""
    out: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(os.path.expanduser(pat), recursive=True)) if glob.has_magic(pat) else [pat]
        files = [Path(h) for h in hits if not Path(h).is_dir()]
        if not files or not all(f.exists() for f in files):
            raise FileNotFoundError(f"input not found: {pat}")
        out.extend(files)
    return out


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # type: ignore[return-value]


def decode_line(raw: bytes, max_bytes: int) -> tuple[str, str]:
    """(text, flags) for one line of bytes without its newline."""
    flags = []
    if len(raw) > max_bytes:
        raw = raw[:max_bytes]
        flags.append("truncated")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        flags.append("decode_error")
    return text, ",".join(flags)


def _read_line(f: BinaryIO, max_bytes: int) -> bytes:
    """One line, at most max_bytes+1 of it kept in memory; b'' at EOF."""
    line = f.readline(max_bytes + 1)
    if len(line) > max_bytes and not line.endswith(b"\n"):
        while True:  # skip the rest of an oversized line without holding it
            rest = f.readline(1 << 20)
            if not rest or rest.endswith(b"\n"):
                break
        return line + b"\n"
    return line


def _batches_from(f: BinaryIO, name: str, batch_size: int, max_bytes: int, start: int = 0) -> Iterator[RawBatch]:
    lines: list[str] = []
    origins: list[str] = []
    flags: list[str] = []
    n = start
    while True:
        raw = _read_line(f, max_bytes)
        if not raw:
            break
        n += 1
        text, flag = decode_line(raw.rstrip(b"\r\n"), max_bytes)
        lines.append(text)
        origins.append(f"{name}:{n}")
        flags.append(flag)
        if len(lines) >= batch_size:
            yield RawBatch(lines, origins, flags)
            lines, origins, flags = [], [], []
    if lines:
        yield RawBatch(lines, origins, flags)


def iter_stream_batches(stream: BinaryIO, name: str, batch_size: int, max_bytes: int) -> Iterator[RawBatch]:
    yield from _batches_from(stream, name, batch_size, max_bytes)


def iter_file_batches(
    patterns: list[str],
    batch_size: int,
    max_bytes: int,
    follow: bool = False,
    poll_interval: float = 0.5,
    idle_exit: float | None = None,
) -> Iterator[RawBatch]:
    """Every file in order; with `follow`, keep reading the last file as it grows (like `tail -F`).

    While following, an empty batch is yielded whenever there is nothing new, so the consumer can act on
    idleness (fit on what it has, stop on SIGTERM). `idle_exit` stops after that many idle seconds.
    """
    paths = expand_paths(patterns)  # now, so that a missing input fails before anything runs
    return _iter_paths(paths, batch_size, max_bytes, follow, poll_interval, idle_exit)


def _iter_paths(paths: list[Path], batch_size: int, max_bytes: int, follow: bool, poll_interval: float,
                idle_exit: float | None) -> Iterator[RawBatch]:
    for i, path in enumerate(paths):
        name = str(path.resolve())
        if follow and i == len(paths) - 1:
            yield from _follow(path, name, batch_size, max_bytes, poll_interval, idle_exit)
            return
        with _open(path) as f:
            yield from _batches_from(f, name, batch_size, max_bytes)


def _follow(path: Path, name: str, batch_size: int, max_bytes: int, poll: float,
            idle_exit: float | None) -> Iterator[RawBatch]:
    n = 0
    pending = b""  # a last line still being written (no newline yet)
    last_data = time.monotonic()
    with path.open("rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if chunk:
                last_data = time.monotonic()
                data = pending + chunk
                cut = data.rfind(b"\n") + 1
                pending = data[cut:]
                if cut:
                    for batch in _batches_from(io.BytesIO(data[:cut]), name, batch_size, max_bytes, start=n):
                        n += len(batch)
                        yield batch
                continue
            if idle_exit is not None and time.monotonic() - last_data >= idle_exit:
                if pending:
                    yield from _batches_from(io.BytesIO(pending), name, batch_size, max_bytes, start=n)
                return
            if f.tell() > os.path.getsize(path):  # truncated or rotated in place: start over
                f.seek(0)
                pending = b""
            yield RawBatch([], [])
            time.sleep(poll)
