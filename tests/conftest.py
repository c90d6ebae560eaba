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


@pytest.fixture(scope="session")
def hdfs_lines(hdfs_log: Path) -> list[bytes]:
    return hdfs_log.read_bytes().splitlines()


@pytest.fixture(scope="module", params=["tansu", "noida"])
def broker(request, tmp_path_factory):
    """A Kafka-protocol broker for a module's tests, each test run on both (see logvec.testing.servers)."""
    from logvec.testing.servers import start_kafka

    server = start_kafka(request.param, str(tmp_path_factory.mktemp(request.param)))
    yield server.address
    server.stop()
