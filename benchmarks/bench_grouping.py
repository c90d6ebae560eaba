"""Template grouping accuracy on Loghub's 15 labeled 2k samples, held out: logvec against Drain3's defaults.

    python benchmarks/bench_grouping.py [--data ../shared/data/loghub_2k]

logvec's template settings (Drain's `sim_th` and `depth`, `merge_min_variants`, `variable_min_values`) were
picked on these systems, so its figure on them is in sample. Held out, leave-one-system-out: for each system,
the grid point with the best mean accuracy on the other 14 is chosen and scored on that system alone; nothing
scored was seen by the choice. The masks were written by people who had read these systems' lines, which no
grid can hold out. Input is each line's Content column (the message after the header, as in the Loghub
benchmark). Contenders:
* logvec held out — logvec's built-in masks + the settings chosen without this system;
* logvec default  — the shipped settings (pipelines/default.yaml), in sample;
* drain3          — Drain3 TemplateMiner with its own defaults (no masking instructions);
* drain3+mask     — Drain3 defaults with logvec's built-in masks as MaskingInstructions.
Logs: Loghub (Zhu et al., ISSRE 2023). Writes benchmarks/out/grouping.json.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path

from drain3 import TemplateMiner as Drain3Miner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig
from results import save

from logvec.config import load_pipeline
from logvec.masking import BUILTIN_PATTERNS, Masker
from logvec.templates import TemplateMiner, grouping_accuracy

HERE = Path(__file__).resolve().parent
GRID = {"sim_th": [0.4, 0.5, 0.6, 0.7, 0.8], "depth": [4, 5, 6], "merge_min_variants": [0, 8],
        "variable_min_values": [0, 3, 4, 5, 6]}
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
    masker = Masker(config.masking)
    data = {}
    for s in SYSTEMS:
        with open(Path(a.data) / s / f"{s}_2k.log_structured.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        contents = [r["Content"] for r in rows]
        data[s] = (contents, masker.mask(contents), [r["EventId"] for r in rows])
    points = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    # accuracy of every grid point on every system: the choice for a held-out system looks only at the others
    grid = {s: [grouping_accuracy(truth, TemplateMiner(config.templates.model_copy(update=p)).update(masked).tolist())
                for p in points] for s, (_, masked, truth) in data.items()}
    rows = {}
    for s, (contents, masked, truth) in data.items():
        others = [o for o in SYSTEMS if o != s]
        best = max(range(len(points)), key=lambda j: sum(grid[o][j] for o in others))
        default = TemplateMiner(config.templates).update(masked).tolist()
        rows[s] = {"logvec held out": grid[s][best], "chosen": points[best],
                   "logvec default": grouping_accuracy(truth, default),
                   "drain3": grouping_accuracy(truth, drain3(contents, False)),
                   "drain3+mask": grouping_accuracy(truth, drain3(contents, True))}
    names = ["logvec held out", "logvec default", "drain3", "drain3+mask"]
    mean = {n: sum(r[n] for r in rows.values()) / len(rows) for n in names}
    wins = sum(r["logvec held out"] >= r["drain3"] for r in rows.values())
    print(f"{'system':12}" + "".join(f"{n:>17}" for n in names) + "  chosen without it")
    for s, r in rows.items():
        chosen = ", ".join(f"{k} {v}" for k, v in r["chosen"].items())
        print(f"{s:12}" + "".join(f"{r[n]:>17.3f}" for n in names) + f"  {chosen}")
    print(f"{'mean':12}" + "".join(f"{mean[n]:>17.3f}" for n in names))
    print(f"held out >= drain3 defaults on {wins} of {len(rows)} systems")
    save("grouping.json", {"grid": GRID, "systems": rows, "mean": mean, "held_out_wins_over_drain3": wins})


if __name__ == "__main__":
    main()
