"""What the tests share besides fixtures: where things are, running the `logvec` command, writing a labelled case.
Real data comes from ../shared/data (Loghub samples: Zhu et al., ISSRE 2023; HDFS: Xu et al., SOSP 2009)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from logvec.access import AccessPolicy
from logvec.records import RawBatch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOGVEC_SHARED_DATA", ROOT.parent / "shared" / "data"))
PIPELINES = ROOT / "pipelines"
# what an API test client gets in (Starlette's TestClient sends Host: testserver): anyone
OPEN_ACCESS = AccessPolicy(open=True, allowed_hosts=("testserver",))
LOGHUB_SYSTEMS = ["Android", "Apache", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH",
                  "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]


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


def raw_batches(lines: list[str], name: str, size: int = 4096) -> list[RawBatch]:
    """Lines as a file source would read them: batches of `size`, each line's id `NAME:LINE`."""
    return [RawBatch(lines[i:i + size], [f"{name}:{j + 1}" for j in range(i, min(i + size, len(lines)))])
            for i in range(0, len(lines), size)]


def write_case(tmp: Path, lines: list[str], labels, name: str = "case"):
    """`lines` as NAME.log and their labels as NAME.csv: per line (a list) or per session key (a dict)."""
    log = tmp / f"{name}.log"
    log.write_text("\n".join(lines) + "\n")
    lab = tmp / f"{name}.csv"
    with open(lab, "w", newline="") as f:
        w = csv.writer(f)
        if isinstance(labels, dict):
            w.writerow(["key", "label"])
            w.writerows(labels.items())
        else:
            w.writerow(["line", "label"])
            w.writerows((i + 1, y) for i, y in enumerate(labels))
    return log, lab


def split_hdfs(hdfs: Path, out: Path, train_share: float = 0.6) -> dict[str, Path]:
    """HDFS_5k split by time: the blocks that start in the first `train_share` of the log, normal ones only,
    are the baseline; every later block is the test. Returns the train and test logs and the test's block and
    line labels, so that nothing is scored on what it was fitted on."""
    import re

    lines = (hdfs / "HDFS_5k.log").read_text().splitlines()
    with open(hdfs / "block_labels.csv") as f:
        block_label = {r["key"]: int(r["label"]) for r in csv.DictReader(f)}
    with open(hdfs / "line_labels.csv") as f:
        line_label = {int(r["line"]): int(r["label"]) for r in csv.DictReader(f)}
    key = re.compile(r"blk_-?\d+")
    block_of = [m.group(0) if (m := key.search(line)) else None for line in lines]
    order = list(dict.fromkeys(b for b in block_of if b is not None))
    cut = int(len(order) * train_share)
    train_blocks = {b for b in order[:cut] if block_label[b] == 0}
    test_blocks = set(order[cut:])
    train = [ln for ln, b in zip(lines, block_of) if b in train_blocks]
    test = [(i + 1, ln) for i, (ln, b) in enumerate(zip(lines, block_of)) if b in test_blocks]
    paths = {"train": out / "train.log", "test": out / "test.log", "blocks": out / "test_blocks.csv",
             "lines": out / "test_lines.csv"}
    paths["train"].write_text("\n".join(train) + "\n")
    paths["test"].write_text("\n".join(ln for _, ln in test) + "\n")
    with open(paths["blocks"], "w", newline="") as f:
        csv.writer(f).writerows([("key", "label"), *((b, block_label[b]) for b in order[cut:])])
    with open(paths["lines"], "w", newline="") as f:
        csv.writer(f).writerows([("line", "label"), *((j + 1, line_label[i]) for j, (i, _) in enumerate(test))])
    return paths
