"""Mask the variable parts of messages (ids, numbers, addresses…) so that lines of one event look alike.

Masks run over the whole batch at once: the batch's messages are joined with newlines and each custom mask is
one `re.sub` over the joined text. The built-in masks are one alternation, leftmost match first (ties go to the
earlier mask). None of them can match a space, and a space looks to each of their boundary checks just like the
start or end of the text, so masking each space-separated token alone gives the same result as masking the
whole message: tokens are masked once and remembered (`cache_size`), and the regex engine only sees the tokens
a batch brings that were not seen lately (numbers, ids) instead of every character of every line.

Tokens are remembered by their shape, digits 2-9 written as 1: no built-in mask tells one of those digits from
another, so `404` and `503`, or two addresses with as many digits, are one entry and one regex run. That holds
while the masked shape keeps no digit; a token whose mask leaves one is masked as itself. A look-behind in
front of the masks (below) turns away the positions no mask can start at before nine alternatives are tried.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

from logvec.config import MaskingConfig

# A shape keeps 0 (the hex mask's `0x`) and the length of every run of digits.
_SHAPE = str.maketrans("23456789", "11111111")
_KEPT_DIGIT = re.compile("[1-9]")

# Order matters: wider shapes first (a URL holds a host, a path and numbers).
BUILTIN_PATTERNS: dict[str, str] = {
    "url": r"(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+",
    "uuid": r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
    "ip": r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?![\w.])",
    "path": r"(?<![\w/])(?:[A-Za-z]:)?(?:[/\\][\w.$@~+-]+){2,}[/\\]?",
    # a name of three labels or more, or of two with a port (github.com:443)
    "host": r"(?<![\w./-])(?:(?:[A-Za-z0-9-]+\.){2,}[A-Za-z]{2,}(?::\d+)?|[A-Za-z0-9-]+\.[A-Za-z]{2,}:\d+)(?![\w.])",
    "time": r"\b\d{1,2}(?::\d{2}){1,2}(?:[.,]\d+)?\b",
    # the words of a date: a weekday's or a month's name, short or whole
    "date": r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Jan|Feb|Mar"
            r"|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|January|February|March|April|June|July|August|September"
            r"|October|November|December)\b",
    "hex": r"\b0[xX][0-9a-fA-F]+\b|\b(?=[a-fA-F]*\d)(?=\d*[a-fA-F])[0-9a-fA-F]{8,}\b",
    "num": r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.-])",
    # any word with a digit in it (node-12-b, 3.5s, blk_-42) but an acronym with a version (SOCKS5, SHA1, HTTP2)
    "id": r"(?<![\w.-])(?![A-Z]{2,}\d(?![\w.-]))[\w.-]*?\d[\w.-]*",
}


# Numbers, hex strings and words holding a digit are one class of variable, and so are addresses named or
# numbered: one variable's values often fall in two of them (a hex trace id that happens to be all digits, `42`
# next to `42a`, a client seen as `10.0.0.7` or as `db.example.org`), and two placeholders would split one event
# into two templates.
_VARIABLE_CLASS = {"hex": "NUM", "num": "NUM", "id": "NUM", "ip": "HOST", "date": "TIME"}
# A list of one variable (`10.0.0.1,10.0.0.2`) is one variable: its length must not make a new template.
_LIST = re.compile(r"(<[A-Z]+>)(?:,\1)+")


def placeholder(name: str) -> str:
    return f"<{_VARIABLE_CLASS.get(name, name).upper()}>"


class Masker:
    """`mask(messages) -> masked messages`, same length and order."""

    def __init__(self, config: MaskingConfig | None = None) -> None:
        config = config or MaskingConfig()
        self.cache_size = config.cache_size
        self.custom: list[tuple[re.Pattern[str], str]] = [
            (re.compile(m.pattern), placeholder(m.name)) for m in config.custom
        ]
        self.builtin: re.Pattern[str] | None = None
        if config.builtin:
            self._names = {name: placeholder(name) for name in config.builtin}
            # No built-in mask can start right after an ASCII letter or digit (each begins with a look-behind or
            # \b that refuses one), so one look-behind turns those positions away before nine alternatives are
            # tried at each (the same matches, less regex work).
            alternatives = "|".join(f"(?P<{n}>{BUILTIN_PATTERNS[n]})" for n in config.builtin)
            self.builtin = re.compile(f"(?<![a-zA-Z0-9])(?:{alternatives})")
        self._shapes: dict[str, str | None] = {"\n": "\n"}  # token shape -> masked; None: mask the token itself
        self._tokens: dict[str, str] = {}  # tokens whose masked shape kept a digit -> masked

    def _builtin_repl(self, m: re.Match[str]) -> str:
        return self._names[m.lastgroup or ""]

    def mask_one(self, message: str) -> str:
        """One message, every mask over the whole text: the reference the batch path must equal."""
        for rx, repl in self.custom:
            message = rx.sub(repl, message)
        if self.builtin is None:
            return message
        return _LIST.sub(r"\1", self.builtin.sub(self._builtin_repl, message))

    def mask(self, messages: list[str]) -> list[str]:
        if not messages:
            return []
        text = "\n".join(messages)
        if text.count("\n") != len(messages) - 1:  # a message with its own newlines (JSON logs): fold them
            messages = [m.replace("\n", " ").replace("\r", " ") for m in messages]
            text = "\n".join(messages)
        for rx, repl in self.custom:
            text = rx.sub(repl, text)
        if self.custom and text.count("\n") != len(messages) - 1:  # a custom mask matched across lines
            return [self.mask_one(m) for m in messages]
        return self._mask_tokens(text) if self.builtin is not None else text.split("\n")

    def _mask_tokens(self, text: str) -> list[str]:
        """`text`: the batch's messages joined by newlines. Each line end becomes a " \n " token of its own,
        so the whole batch is one split and one join."""
        shapes = text.translate(_SHAPE).replace("\n", " \n ").split(" ")
        masked: Sequence[str | None] = self._lookup(self._shapes, shapes, keep_digits=False)
        if None in masked:  # rare: a token a mask left a digit in
            tokens = text.replace("\n", " \n ").split(" ")
            at = [i for i, m in enumerate(masked) if m is None]
            exact = self._lookup(self._tokens, [tokens[i] for i in at], keep_digits=True)
            fixed = list(masked)
            for i, m in zip(at, exact):
                fixed[i] = m
            masked = fixed
        return " ".join(masked).split(" \n ")  # type: ignore[arg-type]  # no None is left

    def _lookup(self, cache: dict, tokens: list[str], keep_digits: bool) -> tuple[str | None, ...]:
        """The masked form of each token from `cache`, masking the ones it lacks with one regex run over them
        all. Unless `keep_digits`, a result that kept a digit is remembered as None."""
        unseen = set(tokens).difference(cache)
        if unseen:
            if len(cache) + len(unseen) > self.cache_size:
                cache.clear()
                if not keep_digits:
                    cache["\n"] = "\n"
                unseen = set(tokens).difference(cache)
            new = list(unseen)
            masked = _LIST.sub(r"\1", self.builtin.sub(self._builtin_repl, "\n".join(new)))  # type: ignore[union-attr]
            parts = masked.split("\n")
            out: list[str | None] = list(parts)
            if not keep_digits and _KEPT_DIGIT.search(masked):  # usually none: one scan of the whole run
                out = [None if _KEPT_DIGIT.search(o) else o for o in parts]
            cache.update(zip(new, out))
        return itemgetter(*tokens)(cache) if len(tokens) > 1 else (cache[tokens[0]],)  # one C call
