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
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from logvec.deadletter import DeadLetter
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


CHUNK = 1 << 20  # bytes read at a time: lines are split and decoded a batch at once, not one by one
BOM = b"\xef\xbb\xbf"


def _raw_lines(f: BinaryIO, max_bytes: int) -> Iterator[list[bytes]]:
    """Lines of bytes without their newline, a chunk's worth at a time. A line longer than `max_bytes` keeps
    its first max_bytes+1 bytes (so that it reads as too long) and the rest is skipped unread into memory."""
    tail = b""  # the start of a line whose end has not come yet
    skipping = False  # inside the rest of an oversized line
    read = getattr(f, "read1", f.read)  # what is there now: a pipe's lines are not held back for a full chunk
    while chunk := read(CHUNK):
        if skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, skipping = chunk[cut + 1:], False
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        if len(tail) > max_bytes:
            parts.append(tail[:max_bytes + 1])
            tail, skipping = b"", True
        if parts:
            yield parts
    if tail:
        yield [tail]


def _decode_batch(raw: list[bytes], name: str, start: int, max_bytes: int) -> RawBatch:
    """One decode and one split for the batch; the rare batch with a long line, a carriage return or bytes
    that are not UTF-8 is decoded line by line, to flag exactly those lines."""
    origins = [f"{name}:{i}" for i in range(start + 1, start + len(raw) + 1)]
    joined = b"\n".join(raw)
    if b"\r" in joined:
        raw = [line.rstrip(b"\r") for line in raw]
        joined = b"\n".join(raw)
    if start == 0 and raw[0].startswith(BOM):  # a file saved with a byte-order mark: not part of its first line
        raw = [raw[0][len(BOM):], *raw[1:]]
        joined = joined[len(BOM):]
    if max(map(len, raw)) <= max_bytes:
        try:
            return RawBatch(joined.decode("utf-8").split("\n"), origins, [""] * len(raw))
        except UnicodeDecodeError:
            pass
    decoded = [decode_line(line, max_bytes) for line in raw]
    return RawBatch([text for text, _ in decoded], origins, [flag for _, flag in decoded])


def _batches_from(f: BinaryIO, name: str, batch_size: int, max_bytes: int, start: int = 0) -> Iterator[RawBatch]:
    pending: list[bytes] = []
    n = start
    broken = None
    try:
        for lines in _raw_lines(f, max_bytes):
            pending += lines
            while len(pending) >= batch_size:
                yield _decode_batch(pending[:batch_size], name, n, max_bytes)
                n += batch_size
                del pending[:batch_size]
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # a cut or damaged .gz: keep what came before it
        broken = e
    if pending:
        yield _decode_batch(pending, name, n, max_bytes)
        n += len(pending)
    if broken is not None:
        reason = f"compressed file ends or breaks here ({broken or type(broken).__name__}): the rest is unreadable"
        yield RawBatch([], [], dead=[DeadLetter(f"{name}:{n + 1}", reason, "")])


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
