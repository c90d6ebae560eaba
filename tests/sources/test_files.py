"""Reading files and streams in batches: the chunked reader gives exactly the lines, flags and origins that
reading line by line would."""

from __future__ import annotations

import gzip
import io

import pytest

from logvec.sources import files
from logvec.sources.files import iter_file_batches, iter_stream_batches


def expected(data: bytes, name: str, max_bytes: int) -> list[tuple[str, str, str]]:
    """Line by line, the plain way: split at newlines, drop carriage returns, cut long lines, flag both."""
    out = []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for i, raw in enumerate(lines, 1):
        raw = raw.rstrip(b"\r")
        flags = []
        if len(raw) > max_bytes:
            raw, flags = raw[:max_bytes], ["truncated"]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text, flags = raw.decode("utf-8", errors="replace"), flags + ["decode_error"]
        out.append((text, f"{name}:{i}", ",".join(flags)))
    return out


MIXED = (b"first line\nwindows line\r\n\ncaf\xc3\xa9 ok\nbad \xff byte\n" + b"x" * 300 + b"\n"
         + "ünïcödé spanning chunks ".encode() * 20 + b"\nlast line without newline")


@pytest.mark.parametrize("chunk", [3, 7, 64, 1 << 20])
@pytest.mark.parametrize("batch_size", [1, 4, 4096])
def test_chunked_reading_equals_line_by_line(monkeypatch, chunk, batch_size):
    monkeypatch.setattr(files, "CHUNK", chunk)
    got = [(text, origin, flag) for b in iter_stream_batches(io.BytesIO(MIXED), "s", batch_size, 256)
           for text, origin, flag in zip(b.lines, b.origins, b.flags)]
    assert got == expected(MIXED, "s", 256)
    assert all(len(b) <= batch_size for b in iter_stream_batches(io.BytesIO(MIXED), "s", batch_size, 256))


def test_an_oversized_line_longer_than_a_chunk_is_cut_and_its_rest_skipped(monkeypatch, tmp_path):
    monkeypatch.setattr(files, "CHUNK", 1000)
    data = b"before\n" + b"y" * 50_000 + b"\nafter\n"
    path = tmp_path / "big.log.gz"
    with gzip.open(path, "wb") as f:
        f.write(data)
    batches = list(iter_file_batches([str(path)], 10, 256))
    lines = [line for b in batches for line in b.lines]
    flags = [flag for b in batches for flag in b.flags]
    assert lines == ["before", "y" * 256, "after"] and flags == ["", "truncated", ""]
    assert [o.rsplit(":", 1)[1] for b in batches for o in b.origins] == ["1", "2", "3"]


def test_a_cut_gzip_keeps_what_came_before_and_dead_letters_the_rest(tmp_path):
    whole = "".join(f"line {i} of a rotated log\n" for i in range(5000)).encode()
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(whole)[:-2000])  # a copy interrupted before its end
    after = tmp_path / "next.log"
    after.write_text("the next file\n")
    batches = list(iter_file_batches([str(cut), str(after)], 1000, 65536))
    lines = [line for b in batches for line in b.lines]
    dead = [d for b in batches for d in b.dead]
    assert lines[0] == "line 0 of a rotated log" and lines[-1] == "the next file"
    kept = len(lines) - 1
    assert 0 < kept < 5000 and lines[kept - 1] == f"line {kept - 1} of a rotated log"[:len(lines[kept - 1])]
    (letter,) = dead
    assert letter.origin == f"{cut.resolve()}:{kept + 1}" and "the rest is unreadable" in letter.reason
