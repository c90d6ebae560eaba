"""Where the benchmarks keep what they measured: one file each in benchmarks/out/ (not in git)."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def save(name: str, data) -> Path:
    """Write `data` to out/NAME: bytes as they are, anything else as indented JSON."""
    OUT.mkdir(exist_ok=True)
    path = OUT / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(json.dumps(data, indent=2))
    return path
