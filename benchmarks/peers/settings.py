"""A pipeline's masks and Drain3 settings in the form the peers use them (light: no scikit-learn, so that the
Drain3-only runs measure Drain3)."""

from __future__ import annotations

import re

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from logvec.config import PipelineConfig
from logvec.masking import BUILTIN_PATTERNS


def mask_regex(config: PipelineConfig) -> tuple[re.Pattern[str], dict[str, str]]:
    """The pipeline's built-in masks as logvec compiles them (no mask starts right after a letter or digit, so
    one look-behind turns those positions away before the alternatives are tried), and each one's placeholder."""
    names = config.masking.builtin
    rx = re.compile("(?<![a-zA-Z0-9])(?:" + "|".join(f"(?P<{n}>{BUILTIN_PATTERNS[n]})" for n in names) + ")")
    return rx, {n: f"<{n.upper()}>" for n in names}


def drain3_miner(config: PipelineConfig, masking_instructions: bool = False) -> TemplateMiner:
    """Drain3 with the pipeline's template settings; with `masking_instructions`, its masks handed to Drain3."""
    cfg = TemplateMinerConfig()
    t = config.templates
    cfg.drain_sim_th, cfg.drain_depth, cfg.drain_max_children = t.sim_th, t.depth, t.max_children
    cfg.drain_extra_delimiters = list(t.extra_delimiters)
    cfg.profiling_enabled = False
    if masking_instructions:
        cfg.masking_instructions = [MaskingInstruction(BUILTIN_PATTERNS[n], n.upper())
                                    for n in config.masking.builtin]
    return TemplateMiner(config=cfg)
