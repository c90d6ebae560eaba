"""Shared fixtures. Real data comes from ../shared/data (Loghub samples: Zhu et al., ISSRE 2023; HDFS: Xu et
al., SOSP 2009); a missing data folder is a failure, not a skip, so CI cannot pass without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOGVEC_SHARED_DATA", ROOT.parent / "shared" / "data"))
PIPELINES = ROOT / "pipelines"
LOGHUB_SYSTEMS = ["Android", "Apache", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH",
                  "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "hdfs_5k" / "HDFS_5k.log").exists():
        pytest.fail(f"test data not found under {SHARED_DATA} (set LOGVEC_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hdfs_log(shared_data: Path) -> Path:
    return shared_data / "hdfs_5k" / "HDFS_5k.log"


def logvec_cli(*args: str, input: bytes | None = None, check: bool = True, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `logvec` command as a user would."""
    exe = Path(sys.executable).parent / "logvec"
    proc = subprocess.run([str(exe), *map(str, args)], input=input, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"logvec {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout.decode()}\n{proc.stderr.decode()}")
    return proc
