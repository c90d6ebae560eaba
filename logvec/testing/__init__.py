"""Helpers for testing logvec against real servers: the suite, the benchmarks and `scripts/services.py` use
them, and so can a system built on logvec. `servers` starts brokers and the OpenSearch emulator on loopback
ports; `kafka` creates topics, produces and reads them back. Nothing here is used by a running pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 120, every: float = 0.2) -> None:
    """Wait for `condition()` to hold, looking every `every` seconds; AssertionError after `timeout`. Tests wait
    on what they need, never a fixed sleep that is too short on a slow machine and wasted on a fast one."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout:g} s")
        time.sleep(every)
