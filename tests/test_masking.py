import re

import pytest

from logvec.config import CustomMask, MaskingConfig
from logvec.masking import BUILTIN_PATTERNS, Masker

from tests.support import LOGHUB_SYSTEMS


@pytest.mark.parametrize("text,expected", [
    ("GET http://svc.example.com:8080/v1/x?q=1 ok", "GET <URL> ok"),
    ("session 3f2504e0-4f89-11d3-9a0c-0305e82c3301 closed", "session <UUID> closed"),
    ("from 10.250.19.102:54106 to 8.8.8.8", "from <HOST> to <HOST>"),
    ("wrote /var/lib/data/seg_7.log", "wrote <PATH>"),
    ("via smtp.mail.example.org", "via <HOST>"),
    ("took 12:30:01.5", "took <TIME>"),
    ("addr 0x7fef9fb9b6d and deadbeef12", "addr <NUM> and <NUM>"),
    ("size 67108864 ratio -0.25", "size <NUM> ratio <NUM>"),
    ("pod node-12-b took 3.5s for blk_-1608999687919862906", "pod <NUM> took <NUM> for <NUM>"),
    ("exit_code=137 user=bob", "exit_code=<NUM> user=bob"),
    ("plain words only", "plain words only"),
    ("at Fri Jun 17 07:07:00 2005", "at <TIME> <TIME> <NUM> <TIME> <NUM>"),
    ("github.com:443 open through proxy proxy.cse.cuhk.edu.hk:5070 SOCKS5", "<HOST> open through proxy <HOST> SOCKS5"),
    ("10.0.0.1,10.0.0.2 \"GET /v2/servers HTTP/1.1\" SHA1 eth0", "<HOST> \"GET <PATH> HTTP/<NUM>\" SHA1 <NUM>"),
    ("Monitor a Mayday for Mars", "Monitor a Mayday for Mars"),
])
def test_builtin_masks(text, expected):
    assert Masker().mask([text]) == [expected]


def test_a_variable_whose_values_fall_in_two_number_classes_keeps_one_template():
    """A hex trace id that happens to be all digits, next to one with letters: numbers, hex strings and words
    with a digit are one placeholder, so the two lines are one event."""
    from logvec.templates import TemplateMiner

    masked = Masker().mask(["trace 4f3a9c0d2e1b7a60 done in 12ms", "trace 4031902837465512 done in 7ms"])
    assert masked[0] == masked[1] == "trace <NUM> done in <NUM>"
    ids = TemplateMiner().update(masked)
    assert ids[0] == ids[1]


def test_custom_mask_runs_before_builtins():
    m = Masker(MaskingConfig(custom=[CustomMask(name="blk", pattern=r"blk_-?\d+")]))
    assert m.mask(["Receiving block blk_-42 from 10.0.0.1"]) == ["Receiving block <BLK> from <HOST>"]


def test_message_with_newlines_keeps_batch_alignment():
    out = Masker().mask(["line one 12\nstill one 13", "two 14"])
    assert out == ["line one <NUM> still one <NUM>", "two <NUM>"]


def test_custom_mask_matching_across_lines_falls_back_per_line():
    m = Masker(MaskingConfig(custom=[CustomMask(name="ws", pattern=r"end\s+start")], builtin=[]))
    assert m.mask(["a end", "start b"]) == ["a end", "start b"]


@pytest.mark.parametrize("system", LOGHUB_SYSTEMS)
def test_batch_masking_equals_line_by_line(shared_data, system):
    lines = (shared_data / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
    m = Masker()
    assert m.mask(lines) == [m.mask_one(x) for x in lines]


def test_token_cache_across_batches_equals_line_by_line_and_stays_bounded(shared_data):
    """Masked tokens are remembered between batches; a warm cache, and one cleared when full, give the same
    output as masking each whole message."""
    lines = []
    for system in LOGHUB_SYSTEMS:
        lines += (shared_data / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
    m = Masker(MaskingConfig(cache_size=5000))
    out, seen = [], set()
    for start in range(0, len(lines), 700):
        batch = lines[start:start + 700]
        out += m.mask(batch)
        batch_tokens = set(" ".join(batch).split(" "))
        seen |= batch_tokens
        assert len(m._shapes) <= 5000 + len(batch_tokens)  # cleared when full (one batch may overshoot)
    assert len(seen) > 5 * 5000  # so the cache was cleared several times on the way
    assert out == [m.mask_one(x) for x in lines]
    assert m.mask(lines[:700]) == out[:700]  # again, from the cache


@pytest.mark.parametrize("builtin", [["ip", "uuid"], ["hex", "time"]])
def test_masks_that_leave_digits_keep_the_tokens_own_digits(shared_data, builtin):
    """Tokens are remembered by shape (2-9 read as 1); where a mask leaves digits in place, the output must
    still hold the token's own digits, not its shape's."""
    m = Masker(MaskingConfig(builtin=builtin, cache_size=2000))
    lines = []
    for system in LOGHUB_SYSTEMS[:6]:
        lines += (shared_data / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
    out = [x for start in range(0, len(lines), 900) for x in m.mask(lines[start:start + 900])]
    assert out == [m.mask_one(x) for x in lines]
    assert any(ch in x for x in out for ch in "23456789")  # digits were left, and came out as they were


def test_guard_before_the_builtin_masks_changes_no_match(shared_data):
    """The built-in alternation runs behind a look-behind that skips positions after an ASCII letter or digit;
    masking must be what the bare alternation gives, on every Loghub line and on edge cases of each mask's
    own boundary (after `_`, after non-ASCII letters, inside hex and dotted words)."""
    bare = re.compile("|".join(f"(?P<{n}>{p})" for n, p in BUILTIN_PATTERNS.items()))
    lines = ["x_http://a.example.com/p 1", "éhttp://h.io/x", "é12 _12 a_0x1f _deadbeef12 ._5 -7", "v1.2.3 x-1.5e3",
             "_3f2504e0-4f89-11d3-9a0c-0305e82c3301 _10.0.0.1:80 _/a/b _a.b.example.org _12:30"]
    for system in LOGHUB_SYSTEMS:
        lines += (shared_data / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
    m = Masker()
    one_list = re.compile(r"(<[A-Z]+>)(?:,\1)+")  # and a list of one placeholder is that placeholder
    assert [m.mask_one(x) for x in lines] == [one_list.sub(r"\1", bare.sub(m._builtin_repl, x)) for x in lines]


def test_spacing_survives_masking():
    assert Masker().mask(["  two  spaces 12 ", "", " ", "\ttab 7"]) == ["  two  spaces <NUM> ", "", " ", "\ttab <NUM>"]
