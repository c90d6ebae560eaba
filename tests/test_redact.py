"""Secrets are taken out of every line before anything reads it (issue 18): the redactor alone, then a whole run
whose data directory, dead letters and command output are searched byte by byte for every secret."""

from __future__ import annotations

import gzip
import json
import stat

import pytest

from fastapi.testclient import TestClient

from logvec.api import create_app
from logvec.config import ConfigError, RedactConfig, load_pipeline, parse_pipeline
from logvec.deadletter import DeadLetter
from logvec.records import RawBatch
from logvec.redact import Redactor
from tests.secret_corpus import leaked, secrets
from tests.support import LOGHUB_SYSTEMS, OPEN_ACCESS, PIPELINES, logvec_cli

DEFAULT = PIPELINES / "default.yaml"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_kind_of_secret_becomes_a_marker_naming_its_kind(seed):
    corpus = secrets(seed)
    out, changed = Redactor().redact([s.line for s in corpus])
    assert changed == list(range(len(corpus)))
    for s, line in zip(corpus, out):
        assert s.value not in line, (s.kind, line)
        assert f"<REDACTED:{s.kind}>" in line, (s.kind, line)
    assert not leaked("\n".join(out).encode(), corpus)


def test_json_lines_stay_json_with_the_marker_inside_the_quotes():
    corpus = [s for s in secrets(3) if s.line.startswith("{")]
    out, _ = Redactor().redact([s.line for s in corpus])
    for line in out:
        obj = json.loads(line)
        assert any(str(v).startswith("<REDACTED:") or "<REDACTED:" in str(v) for v in obj.values())


def test_clean_loghub_logs_are_left_almost_untouched(shared_data):
    """False positives cost templates and search: on the 15 Loghub systems (no secrets) at most 1% of the lines of
    any system is changed, and no card number, key material, JWT or cloud key is seen where there is none."""
    for system in LOGHUB_SYSTEMS:
        lines = (shared_data / "loghub_2k" / system / f"{system}_2k.log").read_text(errors="replace").splitlines()
        r = Redactor()
        _, changed = r.redact(lines)
        assert len(changed) <= 0.01 * len(lines), (system, r.counts)
        assert set(r.counts) <= {"password"}, (system, r.counts)


def test_a_line_redacted_twice_is_the_same_and_counted_once():
    line = secrets(4)[0].line
    r = Redactor()
    once, _ = r.redact([line])
    twice, changed = r.redact(once)
    assert twice == once and changed == [] and r.counts == {"password": 1}


def test_a_secret_at_the_very_start_of_a_batch_is_found():
    card = secrets(5)[12].value
    out, _ = Redactor().redact([card, "next line"])
    assert out == ["<REDACTED:card_number>", "next line"]


def test_secrets_after_multibyte_characters_and_undecodable_bytes_are_found():
    """The anchors are found in the UTF-8 bytes of the batch: a character of several bytes, or one that grows
    when lower-cased (İ), must not shift a secret onto the wrong line."""
    corpus = secrets(8)
    lines = []
    for i, s in enumerate(corpus):
        lines += ["İ" * 40 + " 😀 ünïcödé", f"\udcff{'é' * i} {s.line}"]
    out, changed = Redactor().redact(lines)
    assert changed == list(range(1, len(lines), 2))
    assert not leaked("\n".join(out).encode("utf-8", "surrogatepass"), corpus)


def test_custom_patterns_and_opt_in_detectors():
    config = RedactConfig(detectors=["email", "ip"],
                          custom=[{"name": "employee", "pattern": r"emp=(?P<secret>E\d{6})"}])
    out, _ = Redactor(config).redact(["mail to ann@example.com from 10.1.2.3 emp=E123456 done"])
    assert out == ["mail to <REDACTED:email> from <REDACTED:ip> emp=<REDACTED:employee> done"]
    off, changed = Redactor(RedactConfig(enabled=False)).redact([secrets(0)[0].line])
    assert changed == [] and secrets(0)[0].value in off[0]


def test_a_bad_custom_pattern_names_the_key():
    with pytest.raises(ConfigError, match=r"redact\.custom\[0\]\.pattern: .*not a valid regex"):
        parse_pipeline({"redact": {"custom": [{"name": "x", "pattern": "("}]}})
    with pytest.raises(ConfigError, match=r"redact\.custom\[0\]\.pattern: .*empty string"):
        parse_pipeline({"redact": {"custom": [{"name": "x", "pattern": "a*"}]}})
    with pytest.raises(ConfigError, match=r"masking\.custom\[0\]\.pattern: .*empty string"):  # masks alike
        parse_pipeline({"masking": {"custom": [{"name": "x", "pattern": "(?:id)?"}]}})


def test_the_sources_dead_letters_are_redacted_raw_bytes_too():
    s = secrets(6)[0]
    raw = RawBatch([], [], dead=[DeadLetter("f:1", "not UTF-8", s.line + "\ufffd",
                                            raw_bytes=s.line.encode() + b"\xff")])
    (letter,) = Redactor().redact_batch(raw).dead
    assert s.value not in letter.raw and s.value.encode() not in (letter.raw_bytes or b"")
    assert (letter.raw_bytes or b"").endswith(b"\xff")  # the undecodable byte is kept


def test_a_run_stores_no_secret_anywhere(tmp_path, hdfs_log):
    """Plain and JSON lines, a gzip file cut short, a line cut at max_line_size and binary junk (a dead letter),
    each carrying secrets: after
    `run`, no file of the data directory (records, vectors, model, dead letters), no answer of the API and no
    output of `search`, `stats` or `doctor` holds any of them; data files are 0600 and directories 0700."""
    corpus = secrets(7)
    plain = [s.line for s in corpus if not s.line.startswith("{")]
    normal = hdfs_log.read_text().splitlines()[:3000]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(normal + plain) + "\n")
    long_line = f"{corpus[0].line} " + "x" * 70_000  # over max_line_size: cut there and flagged
    junk = "\x00\x01\x02 " + corpus[7].line  # binary: a dead letter
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(("\n".join([long_line, junk, *plain]) + "\n").encode())[:-30])
    data = tmp_path / "data"
    logvec_cli("run", "-p", DEFAULT, "-i", log, "-i", cut, "-d", data)
    jpipe = tmp_path / "json.yaml"
    jpipe.write_text(f"extends: {DEFAULT}\nparse:\n  type: json\n")
    jlog = tmp_path / "json.log"
    jlines = [s.line for s in corpus if s.line.startswith("{")] + ["{not json, password=" + corpus[1].value]
    jlog.write_text("\n".join(jlines) + "\n")
    logvec_cli("run", "-p", jpipe, "-i", jlog, "-d", tmp_path / "jdata")

    client = TestClient(create_app(load_pipeline(DEFAULT), data, access=OPEN_ACCESS))
    api = [client.get("/api/search", params={"q": corpus[0].line, "k": 50}).content,
           client.post("/api/search", json={"q": corpus[5].line, "k": 50}).content,
           client.get("/api/stats").content, client.get("/api/sessions").content]
    outputs = api + [logvec_cli(*cmd).stdout for cmd in (
        ("search", corpus[0].line, "-p", DEFAULT, "-d", data, "-k", "50", "--format", "json"),
        ("search", "payments charged card", "-p", DEFAULT, "-d", data, "-k", "50"),
        ("stats", "-p", DEFAULT, "-d", data), ("doctor", "-p", DEFAULT, "-d", data),
        ("search", "db connect", "-p", jpipe, "-d", tmp_path / "jdata", "-k", "20", "--format", "json"),
    )]
    files = [p for d in (data, tmp_path / "jdata") for p in d.rglob("*") if p.is_file()]
    dead = (data / "dead-letters.jsonl").read_text()
    assert "binary data" in dead and "compressed file ends" in dead and "<REDACTED:jwt>" in dead, dead[:500]
    for blob, where in [*((p.read_bytes(), str(p)) for p in files), *((o, "output") for o in outputs)]:
        assert not leaked(blob, corpus), (where, [s.kind for s in leaked(blob, corpus)])
    for p in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
    hits = json.loads(outputs[len(api)])
    assert any("<REDACTED:password>" in h["message"] and "redacted" in h["flags"] for h in hits)
