"""Parsing, and the defined behaviour for every kind of bad input: nothing crashes, nothing is dropped silently."""

import gzip
import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest

from logvec.config import ParseConfig, load_pipeline
from logvec.parse import Parser
from logvec.records import RawBatch
from logvec.sources.files import iter_file_batches

from tests.support import PIPELINES


def parse(config: ParseConfig, lines: list[str]):
    return Parser(config).parse(RawBatch(lines, [f"t:{i + 1}" for i in range(len(lines))]))


def test_default_pipeline_parses_hdfs_header(hdfs_log):
    config = load_pipeline(PIPELINES / "default.yaml").parse
    line = hdfs_log.read_text().splitlines()[0]
    records, dead = parse(config, [line])
    assert not dead
    assert records.messages[0].startswith("Receiving block blk_-1608999687919862906 src:")
    assert records.services[0] == "dfs.DataNode$DataXceiver"
    assert records.levels[0] == "INFO"
    assert records.timestamps[0] == datetime(2008, 11, 9, 20, 35, 18, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("line,service,level,message", [
    ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
     "org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "INFO", "Created MRAppMaster"),
    ("2026-11-01T00:00:00.012Z WARN storage: disk usage on /srv at 91%", "storage", "WARN",
     "disk usage on /srv at 91%"),
    ("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", "sshd(pam_unix)", "",
     "check pass; user unknown"),
    # Loghub's supercomputer logs: the alert label comes first and must not reach the message
    ("KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS "
     "KERNEL FATAL data TLB error interrupt", "KERNEL", "FATAL", "data TLB error interrupt"),
    ("- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root",
     "crond(pam_unix)", "", "session closed for user root"),
])
def test_default_pipeline_parses_common_headers(line, service, level, message):
    records, dead = parse(load_pipeline(PIPELINES / "default.yaml").parse, [line])
    assert (records.services[0], records.levels[0], records.messages[0]) == (service, level, message)
    assert not math.isnan(records.timestamps[0])


def test_regex_mismatch_kept_plain_and_flagged():
    cfg = ParseConfig(type="regex", patterns=[r"^(?P<level>[A-Z]+) (?P<message>.*)$"])
    records, dead = parse(cfg, ["INFO ok", "no header here"])
    assert records.messages == ["ok", "no header here"]
    assert records.flags == ["", "unparsed"]


def test_regex_mismatch_dead_lettered_when_configured():
    cfg = ParseConfig(type="regex", patterns=[r"^(?P<level>[A-Z]+) (?P<message>.*)$"], on_mismatch="dead_letter")
    records, dead = parse(cfg, ["INFO ok", "no header here"])
    assert len(records) == 1
    assert [(d.origin, d.reason, d.raw) for d in dead] == [("t:2", "no pattern matched", "no header here")]


def test_json_field_mapping_nested_and_epoch_millis():
    cfg = ParseConfig(type="json", fields={"message": "msg", "timestamp": "ts", "service": "k8s.app",
                                           "level": "lvl"})
    line = json.dumps({"msg": "disk full", "ts": 1700000000123, "k8s": {"app": "storage"}, "lvl": "error"})
    records, dead = parse(cfg, [line])
    assert not dead
    assert records.messages == ["disk full"]
    assert records.services == ["storage"]
    assert records.levels == ["ERROR"]
    assert records.timestamps[0] == pytest.approx(1700000000.123)


def test_json_that_does_not_parse_is_dead_lettered_with_reason():
    records, dead = parse(ParseConfig(type="json"), ['{"message": "ok"}', '{"message": broken', "[1, 2]"])
    assert records.messages == ["ok"]
    assert dead[0].origin == "t:2" and dead[0].reason.startswith("invalid JSON")
    assert dead[0].raw == '{"message": broken'
    assert dead[1].reason == "JSON value is a list, not an object"


def test_json_missing_message_field():
    cfg = ParseConfig(type="json")
    records, dead = parse(cfg, ['{"msg": "elsewhere"}'])
    assert not len(records) and dead[0].reason == "missing field 'message'"
    kept, dead = parse(ParseConfig(type="json", missing_message="raw"), ['{"msg": "elsewhere"}'])
    assert kept.messages == ['{"msg": "elsewhere"}'] and kept.flags == ["missing_message"]


def test_json_missing_optional_fields_are_empty():
    records, dead = parse(ParseConfig(type="json"), ['{"message": "x"}'])
    assert records.services == [""] and records.levels == [""] and np.isnan(records.timestamps[0])


def test_binary_junk_is_dead_lettered():
    records, dead = parse(ParseConfig(), ["\x00\x01\x02\x03ELF\x04\x05", "fine line", "tab\tis\ttext"])
    assert records.messages == ["fine line", "tab\tis\ttext"]
    assert dead[0].reason.startswith("binary data")


def test_blank_lines_counted_not_stored():
    p = Parser(ParseConfig())
    records, dead = p.parse(RawBatch(["a", "", "   ", "b"], ["t:1", "t:2", "t:3", "t:4"]))
    assert records.messages == ["a", "b"] and not dead and p.blank == 2


def test_invalid_utf8_is_replaced_and_flagged(tmp_path):
    f = tmp_path / "bad.log"
    f.write_bytes(b"good line\nbad \xff\xfe bytes\n")
    (batch,) = iter_file_batches([str(f)], 100, 65536)
    assert batch.lines == ["good line", "bad \ufffd\ufffd bytes"]
    assert batch.flags == ["", "decode_error"]


def test_megabyte_line_is_truncated_and_flagged(tmp_path):
    f = tmp_path / "long.log"
    f.write_bytes(b"first\n" + b"x" * (1 << 20) + b"\nlast\n")
    (batch,) = iter_file_batches([str(f)], 100, 65536)
    assert batch.lines[0] == "first" and batch.lines[2] == "last"
    assert len(batch.lines[1]) == 65536 and batch.flags[1] == "truncated"
    assert batch.origins == [f"{f.resolve()}:1", f"{f.resolve()}:2", f"{f.resolve()}:3"]


def test_empty_file_gives_no_batches(tmp_path):
    f = tmp_path / "empty.log"
    f.write_bytes(b"")
    assert list(iter_file_batches([str(f)], 100, 65536)) == []


def test_globs_gzip_and_order(tmp_path):
    (tmp_path / "a.log").write_text("a1\na2\n")
    with gzip.open(tmp_path / "b.log.gz", "wt") as g:
        g.write("b1\n")
    batches = list(iter_file_batches([str(tmp_path / "*.log*")], 2, 65536))
    assert [line for b in batches for line in b.lines] == ["a1", "a2", "b1"]
    assert [len(b) for b in batches] == [2, 1]


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found"):
        list(iter_file_batches([str(tmp_path / "nope-*.log")], 10, 65536))


def test_kafka_metadata_fills_what_the_line_lacks():
    cfg = ParseConfig(type="plain", fields={"service": "kafka.key", "level": "kafka.headers.lvl"})
    from kafka.consumer.fetcher import ConsumerRecord

    meta = ConsumerRecord("logs", 0, -1, 7, 1_700_000_000_123, 0, b"payments", b"card declined",
                          [("lvl", b"warn")], None, 8, 13, 7)
    records, _ = Parser(cfg).parse(RawBatch(["card declined"], ["logs/0/7"], meta=[meta]))
    assert records.timestamps[0] == pytest.approx(1_700_000_000.123)
    assert (records.services[0], records.levels[0]) == ("payments", "WARN")


def test_kafka_messages_become_lines_or_dead_letters_with_offsets_past_both():
    """A poll's messages: plain lines take the batch path; one bad message sends its partition through the
    one-by-one path, where each bad message is a dead letter with its reason. The offsets to commit cover
    the dead letters too."""
    from kafka import TopicPartition
    from kafka.consumer.fetcher import ConsumerRecord

    from logvec.config import KafkaSourceConfig
    from logvec.sources.kafka import KafkaSource

    def msg(tp, offset, value):
        return ConsumerRecord(tp.topic, tp.partition, -1, offset, 0, 0, None, value, [], None, 0, 0, 0)

    clean, mixed = TopicPartition("logs", 0), TopicPartition("logs", 1)
    values = [b"ok one\r", b"\xff\xfe", b"", b"x" * 100, b"  ", None, b"ok two"]
    polled = {clean: [msg(clean, 10, b"a 1"), msg(clean, 11, b"b 2\r")],
              mixed: [msg(mixed, 40 + i, v) for i, v in enumerate(values)]}
    config = KafkaSourceConfig(type="kafka", bootstrap_servers="127.0.0.1:9", topics=["logs"])
    source = KafkaSource(config, max_line_bytes=64)
    batch = source.to_batch(polled)
    assert batch.lines == ["a 1", "b 2", "ok one", "ok two"]
    assert batch.origins == ["logs/0/10", "logs/0/11", "logs/1/40", "logs/1/46"]
    assert [m.offset for m in batch.meta] == [10, 11, 40, 46]
    reasons = {d.origin: d.reason for d in batch.dead}
    assert sorted(reasons) == ["logs/1/41", "logs/1/42", "logs/1/43", "logs/1/44", "logs/1/45"]
    assert reasons["logs/1/41"].startswith("not UTF-8")
    assert "exceeds parse.max_line_size (64)" in reasons["logs/1/43"]
    assert reasons["logs/1/42"] == reasons["logs/1/44"] == reasons["logs/1/45"] == "empty message value"
    assert batch.offsets == {clean: 12, mixed: 47}
    assert not batch.screened  # the one-by-one path does not look for control characters: the parser does


@pytest.mark.parametrize("pipeline", ["default.yaml", "kafka.yaml"])
def test_a_kafka_poll_of_plain_lines_is_not_screened_twice(shared_data, pipeline):
    """The source marks a poll whose values it decoded together and found free of blank lines and control
    characters, and the parser then skips its own look: same records either way. A value with a control
    character, valid UTF-8 or not, leaves the poll to the parser's screen, which dead-letters binary junk."""
    from kafka import TopicPartition
    from kafka.consumer.fetcher import ConsumerRecord

    from logvec.config import KafkaSourceConfig
    from logvec.sources.kafka import KafkaSource

    def poll(values):
        tps = [TopicPartition("logs", p) for p in range(3)]
        return {tp: [ConsumerRecord(tp.topic, tp.partition, -1, o, 0, 0, None, v, [], None, 0, 0, 0)
                     for o, v in enumerate(values[i::3])] for i, tp in enumerate(tps)}

    lines = []
    for path in sorted((shared_data / "loghub_2k").glob("*/*_2k.log")):
        lines += [line for line in path.read_text(errors="replace").splitlines()[:300] if line.strip()]
    values = [line.encode() for line in lines]
    source = KafkaSource(KafkaSourceConfig(type="kafka", bootstrap_servers="127.0.0.1:9", topics=["logs"]),
                         max_line_bytes=65536)
    config = load_pipeline(PIPELINES / pipeline).parse
    batch = source.to_batch(poll(values))
    assert batch.screened and len(batch) == len(values)
    records, dead = Parser(config).parse(batch)
    batch.screened = False
    again, dead_again = Parser(config).parse(batch)
    assert rows_of(records) == rows_of(again) and dead == dead_again == []

    for junk in (b"\x00\x01\x02\x03\x04\x05 binary", b"ok \x1b[31mcolour\x1b[0m line"):
        batch = source.to_batch(poll([junk, *values[:50]]))
        assert not batch.screened and batch.lines[0] == junk.decode()
        records, dead = Parser(config).parse(batch)
        if junk.startswith(b"\x00"):
            assert [(d.origin, d.reason[:11]) for d in dead] == [("logs/0/0", "binary data")] and len(records) == 50
        else:
            assert not dead and records.ids[0] == "logs/0/0" and len(records) == 51


@pytest.mark.parametrize("values", [
    ["2026-11-26 19:38:43,761", "2026-11-26T19:38:44.5Z", "2026-11-26 19:38:45", "2028-02-29 00:00:00"],
    ["2026-11-26T19:38:43+02:00", "081109 203615", "Nov 26 19:38:43", None, 1_700_000_000_123, "now", "",
     "2026-11-26 19:38:43,761", "1700000000.5", "26/Nov/2026:19:38:43 +0100", "2026-13-01 00:00:00"],
    ["2026-11-26 19:38:43", "2026-02-29 00:00:00"],
    ["Jul  1 00:21:28", "Dec 10 06:55:46", "Nov 26 19:38:43", "Jun 14 15:16:01"],
    ["Jul  1 00:21:28", "Jul 1 00:21:28", "Feb 30 00:00:00", "nov 26 19:38:43", "Now 26 19:38:43", None],
    ["Feb 29 12:00:00", "Mar  1 00:00:00"],  # a date only in leap years: NaN in others, both ways
])
def test_batch_timestamps_equal_one_by_one(values):
    """Naive ISO times and syslog times each go through numpy as one batch, the rest one by one: same epochs
    either way (a batch with a bad, zoned or unpadded time falls back whole, an impossible date is NaN, not an
    error)."""
    from logvec.timeparse import TimestampParser

    batch = TimestampParser().parse_many(values)
    one = TimestampParser()
    np.testing.assert_array_equal(batch, [one.parse_value(v) for v in values])
    bad = ("now", "2026-13-01 00:00:00", "2026-02-29 00:00:00", "Feb 30 00:00:00", "Now 26 19:38:43",
           "Feb 29 12:00:00")
    assert not np.isnan(batch[[i for i, v in enumerate(values) if v and v not in bad]]).any()


def test_a_time_without_a_year_takes_this_one_feb_29_included(monkeypatch):
    """Syslog writes no year: it is the current one, read together with the rest, so that Feb 29 is a date in
    a leap year (strptime alone would read it against 1900 and refuse it) — in the batch and one by one."""
    from datetime import datetime, timezone

    from logvec import timeparse

    class In2028(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2028, 6, 1, tzinfo=tz)

    monkeypatch.setattr(timeparse, "datetime", In2028)
    values = ["Feb 29 12:00:00", "Mar  1 00:00:00"]
    expected = [datetime(2028, 2, 29, 12, tzinfo=timezone.utc).timestamp(),
                datetime(2028, 3, 1, tzinfo=timezone.utc).timestamp()]
    assert timeparse.TimestampParser().parse_many(values).tolist() == expected
    one = timeparse.TimestampParser()
    assert [one.parse(v) for v in values] == expected


def test_syslog_times_of_a_batch_are_read_at_once(shared_data):
    """Every Linux and OpenSSH time in Loghub, one batch: numpy reads them (nothing reaches the one-by-one
    parser and its cache), with the epochs it gives."""
    from logvec.timeparse import TimestampParser

    values = [line[:15] for name in ("Linux", "OpenSSH")
              for line in (shared_data / "loghub_2k" / name / f"{name}_2k.log").read_text().splitlines()]
    batch = TimestampParser()
    got = batch.parse_many(values)
    assert not batch._cache
    one = TimestampParser()
    np.testing.assert_array_equal(got, [one.parse(v) for v in values])


JUNK = ["", "   ", "\x00\x01\x02binary\x03", "\t", "ok \x1b[31mcolour\x1b[0m line", "\u2028", "x" * 300,
        "no header at all", "2026-11-26T19:38:43+02:00 ERROR pay: zoned", "\x1c"]


@pytest.mark.parametrize("on_mismatch", ["plain", "dead_letter"])
@pytest.mark.parametrize("pipeline", ["default.yaml", "kafka.yaml"])
def test_batch_parse_equals_line_by_line(shared_data, pipeline, on_mismatch):
    """Every Loghub system's lines (with blank, binary and headerless lines among them, first and last too)
    parsed as one batch give the records and dead letters that parsing each line alone gives."""
    config = load_pipeline(PIPELINES / pipeline).parse.model_copy(update={"on_mismatch": on_mismatch})
    lines = []
    for path in sorted((shared_data / "loghub_2k").glob("*/*_2k.log")):
        lines += path.read_text(errors="replace").splitlines()[:300] + JUNK
    lines = JUNK[::-1] + lines
    origins = [f"t:{i}" for i in range(len(lines))]
    batch = Parser(config)
    records, dead = batch.parse(RawBatch(lines, origins))
    one = Parser(config)
    expect_records, expect_dead = [], []
    for line, origin in zip(lines, origins):
        r, d = one.parse(RawBatch([line], [origin]))
        expect_records += rows_of(r)
        expect_dead += [(x.origin, x.reason, x.raw) for x in d]
    assert rows_of(records) == expect_records
    assert sorted((x.origin, x.reason, x.raw) for x in dead) == sorted(expect_dead)
    assert batch.blank == one.blank == sum(not line.strip() for line in lines) > 0
    assert any(reason.startswith("binary data") for _, reason, _ in expect_dead)
    if on_mismatch == "plain":
        assert "unparsed" in records.flags
    else:
        assert any(reason == "no pattern matched" for _, reason, _ in expect_dead)


def rows_of(records) -> list[tuple]:
    times = [None if math.isnan(t) else t for t in records.timestamps.tolist()]  # NaN != NaN
    return list(zip(records.ids, records.messages, times, records.services, records.levels, records.flags))
