"""Take secrets out of raw lines before anything else reads them: `Redactor(config).redact(lines)`.

A secret becomes a marker naming its kind (`password=<REDACTED:password>`), in the line itself, so the parser,
the masks, the templates, the vectors, the reasons, the model, the dead letters, the alerts and the stored
documents only ever see the marker. Redaction runs on the raw line (not on the parsed message) because dead
letters and session keys are read from the raw line too.

Each detector is one regex with anchors: literals its secret cannot be without (`eyj` for a JWT, `://` for a
password in a URL, a run of 13 digits for a card number). One Aho-Corasick pass over the batch's bytes finds every
anchor of every detector, and each regex then runs once over the lines holding its anchors, joined by newlines:
most lines hold no secret, and most batches need no regex at all. The kinds follow detect-secrets' plugins
(keyword, basic auth, JWT, AWS, private key, Stripe, GitHub, Slack…); its scanner is not used because it runs
every plugin in Python on every line, several hundred times this cost (`benchmarks/bench_redact.py`).

No pattern can match a line break, so a batch joined by newlines splits back into the same lines.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from ahocorasick_rs import BytesAhoCorasick

from logvec.config import CustomRedactor, RedactConfig
from logvec.metrics import REDACTIONS
from logvec.records import RawBatch

MARKER = "<REDACTED:{}>"
_SP = r"[^\S\n]"  # white space that is not a line break
_NOT_MARKER = r"(?!<REDACTED:)"
# a value after `key=` / `key: `: a quoted string (JSON-escaped quotes too) or a bare word; the secret is inside
# the quotes, so a JSON line stays valid JSON
_VALUE = (r"(?:\\\"(?P<s1>(?:[^\"\\\n]|\\[^\"\n])*)\\\"|\"(?P<s2>(?:[^\"\\\n]|\\.)*)\"|'(?P<s3>[^'\n]*)'"
          rf"|{_NOT_MARKER}(?P<s4>[^\s\"',;&<>(){{}}\[\]\\]+))")
# `pass` and `pwd` only as words of their own (`bypass=true` is not a password); the longer keywords anywhere in
# a key (`csrftoken`, `dbPassword`, `x-api-key`)
_KEYWORDS = (r"passw(?:or)?d|passphrase|(?<![A-Za-z])(?:pass|pwd)(?![A-Za-z])|secret|api[_.-]?key|apikey"
             r"|access[_.-]?key|private[_.-]?key|account[_.-]?key|shared[_.-]?access[_.-]?key|auth[_.-]?token"
             r"|access[_.-]?token|refresh[_.-]?token|token|credentials?")


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|35|6011|6[45]|62")


def _card(text: str) -> bool:
    """13 to 19 digits that start like an issuer's numbers and pass the Luhn check."""
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and bool(_CARD_PREFIX.match(digits)) and _luhn(digits)


def _encoded(text: str) -> bool:
    """Key material, not a path or a long name: upper case, lower case and a digit, as varied as random base64
    is (over 4 bits a character), and not three or more words of letters between slashes. About 1 in 1,300
    random base64 runs fails this; no run of the 15 Loghub systems passes it."""
    text = text.rstrip("=")
    if text.isalpha() or text.isdigit() or text.islower() or text.isupper() or not any(map(str.isdigit, text)):
        return False
    if sum(1 for part in text.split("/") if len(part) >= 4 and part.isalpha()) >= 3:
        return False
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) >= 4.0


# digits become 1, and the characters a card number may follow (space, tab, =, :, quotes) a space
# The views the anchors are looked for in, as byte tables over the UTF-8 text (bytes.translate is one fast pass
# whatever the text holds; str.translate slows twentyfold once a batch holds one non-ASCII character). Bytes of
# multi-byte characters map to themselves: no anchor holds one.
_LOWER = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
# digits become 1, and the characters a card number may follow (space, tab, =, :, quotes) a space
_DIGITS = bytes.maketrans(b"0123456789\t=:\"'", b"1111111111     ")
_BASE64 = bytes.maketrans(string.ascii_letters.encode() + b"0123456789+/", b"a" * 64)
_VIEWS = {"lower": _LOWER, "digits": _DIGITS, "base64": _BASE64}


@dataclass(frozen=True)
class Detector:
    """One kind of secret. `pattern`: the group named `secret` (or s1-s4) is what is replaced, else the whole
    match; `check` confirms a match (the Luhn check of a card number).

    The pattern only runs on the lines that hold one of `anchors`: looked for in the lower-cased text, or in
    the text with every digit made 1 (`shape="digits"`: thirteen 1s is a run of 13 digits) or every base64
    character made `a` (`shape="base64"`). No anchors: every line."""

    name: str
    pattern: str
    anchors: tuple[str, ...] = ()
    shape: Literal["digits", "base64"] | None = None
    check: Callable[[str], bool] | None = None
    flags: int = 0


_KEYWORD_ANCHORS = ("pass", "pwd", "secret", "token", "credential", "apikey", "accesskey", "privatekey",
                    "accountkey", "sharedaccesskey",
                    *(f"{w}{sep}key" for w in ("api", "access", "private", "account") for sep in "_-. "))
DETECTORS: dict[str, Detector] = {d.name: d for d in (
    Detector("private_key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
             r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)", ("PRIVATE KEY",), flags=re.M),
    Detector("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", ("eyJ",)),
    Detector("authorization",
             rf"(?i)\b(?:proxy-)?authorization\\?[\"']?{_SP}*[:=]{_SP}*\\?[\"']?"
             rf"(?:(?:bearer|basic|digest|token|negotiate|aws4-hmac-sha256){_SP}+)?+{_NOT_MARKER}"
             rf"(?P<secret>[^\s\"',;\\]+)"
             rf"|(?i:\bbearer){_SP}+{_NOT_MARKER}(?P<s1>(?=[\w.~+/=-]*\d)[\w.~+/=-]{{16,}})"
             rf"|(?i:\b(?:set-)?cookie)\\?[\"']?{_SP}*:{_SP}*{_NOT_MARKER}(?P<s2>[^\n\"'\\]+)",
             ("authorization", "bearer", "cookie")),
    Detector("url_password", r"(?<![\w+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@\"'<>]*:"
             rf"{_NOT_MARKER}(?P<secret>[^\s@/\"'<>]+)@", ("://",)),
    # access key ids of credentials (long-term, temporary, bearer-token service, CloudFront); the other AWS id
    # prefixes (AIDA users, AROA roles…) name things, they do not grant access
    Detector("aws_access_key", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
             ("AKIA", "ASIA", "ABIA", "ACCA")),
    Detector("aws_secret_key", rf"(?i:aws)[^\n]{{0,30}}?(?i:secret)[^\n]{{0,30}}?[:=\s]{_SP}*\\?[\"']?"
             r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", ("aws",)),
    # the look-ahead turns away, in one test, the positions no keyword or flag can start at
    Detector("password", rf"(?=[pPsStTaAcCrR-])(?:(?i:(?:{_KEYWORDS})(?:[_.-][\w.-]*)?)\\?[\"']?{_SP}*[:=]{_SP}*"
             rf"|--(?i:password|passwd|secret|token|api-key)(?:=|{_SP}+)){_VALUE}",
             _KEYWORD_ANCHORS),
    Detector("stripe_key", r"\b(?:sk|rk)_(?:live|test)_[0-9a-zA-Z]{10,}\b", ("_live_", "_test_")),
    Detector("github_token", r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
             ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Detector("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}", ("glpat-",)),
    Detector("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[A-Za-z0-9/]+",
             ("xox", "hooks.slack.com")),
    Detector("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", ("AIza",)),
    Detector("openai_key", r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}", ("sk-",)),
    Detector("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    # 13-19 digits in one run, or grouped the way cards are printed (4-4-4-4[-3], 4-6-5, 4-6-4)
    Detector("card_number", r"(?<![\w.:/-])(?:\d{13,19}|\d{4}(?:([ -])\d{4}){2,3}(?:\1\d{1,4})?"
             r"|\d{4}([ -])\d{6}\2\d{4,5})(?![\w.:/-])",
             (f" {'1' * 13}", f"\n{'1' * 13}", "1111 1111 1111", "1111-1111-1111", "1111-111111-1111"),
             shape="digits", check=_card),
    Detector("key_material", r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=])", ("a" * 40,),
             shape="base64", check=_encoded),
    Detector("email", r"(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", ("@",)),
    Detector("ip", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])|(?<![\w:])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"
             r"(?![\w:])", (".", ":")),
)}
_SECRET_GROUPS = ("secret", "s1", "s2", "s3", "s4")


def _automata(detectors: list[Detector]) -> dict[str, tuple[BytesAhoCorasick, list[list[int]]]]:
    """Per view of the text, one automaton over the anchors of every detector that reads that view, and for
    each anchor the detectors it stands for."""
    owners: dict[str, dict[bytes, list[int]]] = {}
    for i, d in enumerate(detectors):
        view = d.shape or "lower"
        for anchor in d.anchors:
            owners.setdefault(view, {}).setdefault(anchor.lower().encode(), []).append(i)
    return {view: (BytesAhoCorasick(list(by)), list(by.values())) for view, by in owners.items()}


def _custom(c: CustomRedactor) -> Detector:
    return Detector(c.name, c.pattern)


class Redactor:
    """`redact(lines) -> (lines, redacted)`: the lines with every secret replaced, and the indexes of the lines
    that held one. `counts` holds the secrets replaced so far, by kind."""

    def __init__(self, config: RedactConfig | None = None) -> None:
        config = config or RedactConfig()
        chosen = [DETECTORS[n] for n in config.detectors] + [_custom(c) for c in config.custom]
        self.detectors = chosen if config.enabled else []
        self._compiled = [(d, re.compile(d.pattern, d.flags)) for d in self.detectors]
        self._automata = _automata(self.detectors)
        self.counts: dict[str, int] = {}

    def _replace(self, detector: Detector, rx: re.Pattern[str], text: str) -> str:
        marker = MARKER.format(detector.name)
        groups = [g for g in _SECRET_GROUPS if g in rx.groupindex]
        found = 0

        def repl(m: re.Match[str]) -> str:
            nonlocal found
            if detector.check is not None and not detector.check(m.group(0)):
                return m.group(0)
            found += 1
            for g in groups:
                start = m.start(g)
                if start >= 0:
                    whole = m.group(0)
                    return whole[: start - m.start()] + marker + whole[m.end(g) - m.start():]
            return marker

        out = rx.sub(repl, text)
        if found:
            self.counts[detector.name] = self.counts.get(detector.name, 0) + found
            REDACTIONS.labels(detector.name).inc(found)
        return out

    def _screened(self, text: str) -> list[tuple[Detector, re.Pattern[str], list[int] | None]]:
        """Each detector with the lines of `text` (a batch joined by line breaks) that may hold its secret (None:
        every line), leaving out the detectors none of whose anchors the batch holds. One Aho-Corasick pass per
        view of the batch's UTF-8 bytes finds every anchor at once: far cheaper than running the patterns, or a
        substring test per anchor, over every line."""
        # a line break before the first line too (the anchors that start with one); lone surrogates pass as bytes
        data = ("\n" + text).encode("utf-8", "surrogatepass")
        lines_of: dict[int, list[int]] = {}  # detector -> byte offsets of its anchors
        for view, (automaton, owners) in self._automata.items():
            for anchor, start, _ in automaton.find_matches_as_indexes(data.translate(_VIEWS[view])):
                for owner in owners[anchor]:
                    lines_of.setdefault(owner, []).append(start)
        out: list[tuple[Detector, re.Pattern[str], list[int] | None]] = []
        breaks = None  # the line break before each line
        for i, (d, rx) in enumerate(self._compiled):
            if not d.anchors:
                out.append((d, rx, None))
            elif i in lines_of:
                if breaks is None:
                    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
                out.append((d, rx, np.unique(np.searchsorted(breaks, lines_of[i], side="right") - 1).tolist()))
        return out

    def redact(self, lines: list[str]) -> tuple[list[str], list[int]]:
        if not self._compiled or not lines:
            return lines, []
        joined = "\n".join(lines)
        if joined.count("\n") != len(lines) - 1:  # a line with line breaks of its own: each line alone
            each = [self.redact_text(line) for line in lines]
            return each, [i for i, (a, b) in enumerate(zip(lines, each)) if a != b]
        out: list[str] | None = None
        changed: set[int] = set()
        for d, rx, at in self._screened(joined):
            current = out if out is not None else lines
            if at is None:  # every line: the batch as joined (while no detector has changed it)
                at = list(range(len(lines)))
                text = joined if out is None else "\n".join(current)
            else:
                text = "\n".join([current[i] for i in at])
            new = self._replace(d, rx, text)
            if new == text:
                continue
            parts = new.split("\n")
            if len(parts) != len(at):  # a custom pattern matched a line break: those lines one by one
                parts = [self._replace(d, rx, current[i]) for i in at]
            if out is None:
                out = list(lines)
            for i, line in zip(at, parts):
                if line != out[i]:
                    out[i] = line
                    changed.add(i)
        return (out, sorted(changed)) if out is not None else (lines, [])

    def redact_text(self, text: str) -> str:
        """One text of any number of lines (a query, a dead letter)."""
        return "\n".join(self.redact(text.split("\n"))[0]) if self._compiled else text

    def redact_bytes(self, data: bytes) -> bytes:
        """Undecodable bytes (a dead letter's original), read as Latin-1 (one character a byte, none lost) so that
        the ASCII secrets are found and every other byte is kept as it was."""
        return self.redact_text(data.decode("latin-1")).encode("latin-1", "replace")

    def redact_batch(self, raw: RawBatch) -> RawBatch:
        """The batch with its lines and the source's dead letters redacted; a line that held a secret is
        flagged `redacted`."""
        if not self._compiled:
            return raw
        lines, changed = self.redact(raw.lines)
        flags = raw.flags
        if changed:
            flags = list(flags)
            for i in changed:
                flags[i] = f"{flags[i]},redacted" if flags[i] else "redacted"
        dead = raw.dead
        if dead:
            dead = [replace(d, raw=self.redact_text(d.raw),
                            raw_bytes=None if d.raw_bytes is None else self.redact_bytes(d.raw_bytes))
                    for d in dead]
        if not changed and dead is raw.dead:
            return raw
        return replace(raw, lines=lines, flags=flags, dead=dead)
