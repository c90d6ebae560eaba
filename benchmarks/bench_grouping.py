"""Template grouping accuracy on Loghub's 15 labeled 2k samples: logvec's default template stage vs Drain3.

    python benchmarks/bench_grouping.py [--data ../shared/data/loghub_2k]

One configuration for every system (no per-system tuning). Input is each line's Content column (the message
after the header, as in the Loghub benchmark). Contenders:
* logvec      — logvec's built-in masks + its Drain3 settings + template merging (pipelines/default.yaml);
* drain3      — Drain3 TemplateMiner with its own defaults (no masking instructions);
* drain3+mask — Drain3 defaults with logvec's built-in masks as MaskingInstructions.
Logs: Loghub (Zhu et al., ISSRE 2023). Writes benchmarks/out/grouping.json.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from drain3 import TemplateMiner as Drain3Miner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig
from results import save

from logvec.config import load_pipeline
from logvec.masking import BUILTIN_PATTERNS, Masker
from logvec.templates import TemplateMiner, grouping_accuracy

HERE = Path(__file__).resolve().parent
SYSTEMS = ["Android", "Apache", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac", "OpenSSH", "OpenStack",
           "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"]


def drain3(contents: list[str], masks: bool) -> list[int]:
    cfg = TemplateMinerConfig()
    cfg.masking_instructions = (
        [MaskingInstruction(p, n.upper()) for n, p in BUILTIN_PATTERNS.items()] if masks else []
    )
    tm = Drain3Miner(config=cfg)
    return [tm.add_log_message(c)["cluster_id"] for c in contents]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" / "loghub_2k"))
    a = ap.parse_args()
    config = load_pipeline(HERE.parent / "pipelines" / "default.yaml")
    rows = {}
    for s in SYSTEMS:
        with open(Path(a.data) / s / f"{s}_2k.log_structured.csv", encoding="utf-8") as f:
            data = list(csv.DictReader(f))
        contents, truth = [r["Content"] for r in data], [r["EventId"] for r in data]
        ours = TemplateMiner(config.templates).update(Masker(config.masking).mask(contents)).tolist()
        rows[s] = {"logvec": grouping_accuracy(truth, ours),
                   "drain3": grouping_accuracy(truth, drain3(contents, False)),
                   "drain3+mask": grouping_accuracy(truth, drain3(contents, True))}
    names = ["logvec", "drain3", "drain3+mask"]
    mean = {n: sum(r[n] for r in rows.values()) / len(rows) for n in names}
    print(f"{'system':12}" + "".join(f"{n:>13}" for n in names))
    for s, r in rows.items():
        print(f"{s:12}" + "".join(f"{r[n]:>13.3f}" for n in names))
    print(f"{'mean':12}" + "".join(f"{mean[n]:>13.3f}" for n in names))
    save("grouping.json", {"systems": rows, "mean": mean})


if __name__ == "__main__":
    main()
