"""Mask the variable parts of messages (ids, numbers, addresses…) so that lines of one event look alike.

Masks run over the whole batch at once: the batch's messages are joined with newlines; each custom mask is one
`re.sub` over the joined text, and the built-in masks are one alternation, leftmost match first (ties go to
the earlier mask), so the regex engine scans the batch once instead of once per mask and per line.
"""

from __future__ import annotations

import re

from logvec.config import MaskingConfig

# Order matters: wider shapes first (a URL holds a host, a path and numbers).
BUILTIN_PATTERNS: dict[str, str] = {
    "url": r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+",
    "uuid": r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    "ip": r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])",
    "path": r"(?<![\w/])(?:[A-Za-z]:)?(?:[/\\][\w.$@~+-]+){2,}[/\\]?",
    "host": r"(?<![\w./-])(?:[A-Za-z0-9-]+\.){2,}[A-Za-z]{2,}(?::\d+)?(?![\w.])",
    "time": r"\b\d{1,2}(?::\d{2}){1,2}(?:[.,]\d+)?\b",
    "hex": r"\b0[xX][0-9a-fA-F]+\b|\b(?=[a-fA-F]*\d)(?=\d*[a-fA-F])[0-9a-fA-F]{8,}\b",
    "num": r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.-])",
    "id": r"(?<![\w.-])[\w.-]*?\d[\w.-]*",  # any word with a digit in it: node-12-b, 3.5s, blk_-42
}


def placeholder(name: str) -> str:
    return f"<{name.upper()}>"


class Masker:
    """`mask(messages) -> masked messages`, same length and order."""

    def __init__(self, config: MaskingConfig | None = None) -> None:
        config = config or MaskingConfig()
        self.rules: list[tuple[re.Pattern[str], object]] = [
            (re.compile(m.pattern), placeholder(m.name)) for m in config.custom
        ]
        if config.builtin:
            names = {name: placeholder(name) for name in config.builtin}
            combined = re.compile("|".join(f"(?P<{n}>{BUILTIN_PATTERNS[n]})" for n in config.builtin))
            self.rules.append((combined, lambda m: names[m.lastgroup]))

    def mask_one(self, message: str) -> str:
        for rx, repl in self.rules:
            message = rx.sub(repl, message)  # type: ignore[call-overload]
        return message

    def mask(self, messages: list[str]) -> list[str]:
        if not messages:
            return []
        text = "\n".join(messages)
        has_newlines = text.count("\n") != len(messages) - 1
        if has_newlines:  # a message with its own newlines (JSON logs): fold them for masking only
            text = "\n".join(m.replace("\n", " ").replace("\r", " ") for m in messages)
        for rx, repl in self.rules:
            text = rx.sub(repl, text)  # type: ignore[call-overload]
        out = text.split("\n")
        if len(out) != len(messages):  # a custom mask matched across lines: do it line by line
            return [self.mask_one(m.replace("\n", " ")) for m in messages]
        return out
