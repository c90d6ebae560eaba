"""Templating alone with Drain3, three ways, for bench_throughput.py: `raw` (every line, header included, the masks
as Drain3's MaskingInstructions, no cache), `parsed` (the same on messages parsed by the pipeline's header
regexes) and `cached` (parsed, masked by one regex a message, Drain3 only for a masked line not seen before).

    python benchmarks/peers/drain3_only.py raw|parsed|cached FILE PIPELINE     # prints: lines templates
"""

from __future__ import annotations

import re
import sys

from settings import drain3_miner, mask_regex

from logvec.config import load_pipeline


def main() -> None:
    mode, log, pipeline = sys.argv[1:4]
    config = load_pipeline(pipeline)
    headers = [re.compile(p) for p in config.parse.patterns]
    tm = drain3_miner(config, masking_instructions=mode != "cached")
    masks, placeholder = mask_regex(config)
    seen: dict[str, int] = {}

    def message(line: str) -> str:
        for rx in headers:
            m = rx.match(line)
            if m:
                return m.group("message")
        return line

    n = 0
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if mode == "raw":
                tm.add_log_message(line)
            elif mode == "parsed":
                tm.add_log_message(message(line))
            else:
                masked = masks.sub(lambda m: placeholder[m.lastgroup or ""], message(line))
                if masked not in seen:
                    seen[masked] = tm.add_log_message(masked)["cluster_id"]
            n += 1
    print(n, len(tm.drain.clusters))


if __name__ == "__main__":
    main()
