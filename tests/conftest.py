"""Shared fixtures. A missing data folder is a failure, not a skip, so CI cannot pass without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "hdfs_5k" / "HDFS_5k.log").exists():
        pytest.fail(f"test data not found under {SHARED_DATA} (set LOGVEC_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hdfs_log(shared_data: Path) -> Path:
    return shared_data / "hdfs_5k" / "HDFS_5k.log"
