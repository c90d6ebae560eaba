"""Input meant to break a run (issue 18's reproductions): each is one clear outcome, never a crash."""

from __future__ import annotations

import json
import time

import pytest

from logvec.config import ConfigError, load_pipeline
from logvec.deadletter import DeadLetter, DeadLetterFile
from tests.support import PIPELINES, logvec_cli

DEFAULT = PIPELINES / "default.yaml"


def test_a_json_message_nested_too_deep_to_store_is_a_dead_letter(tmp_path):
    pipe = tmp_path / "json.yaml"
    pipe.write_text(f"extends: {DEFAULT}\nparse:\n  type: json\n")
    deep = '{"message": ' + "[" * 300 + "]" * 300 + "}"
    log = tmp_path / "in.log"
    log.write_text('{"message": "fine line one"}\n' + deep + '\n{"message": "fine line two"}\n')
    summary = json.loads(logvec_cli("run", "-p", pipe, "-i", log, "-d", tmp_path / "d", "--format", "json").stdout)
    assert summary["records"] == 2 and summary["dead_letters"] == 1
    (letter,) = DeadLetterFile(tmp_path / "d" / "dead-letters.jsonl").read()
    assert letter.origin.endswith(":2") and "cannot be stored as text" in letter.reason


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1e20", "-1e15"])
def test_a_time_no_calendar_can_show_is_flagged_and_search_still_works(tmp_path, when):
    pipe = tmp_path / "json.yaml"
    pipe.write_text(f"extends: {DEFAULT}\nparse:\n  type: json\n")
    value = when if not when[-1].isdigit() or "-" in when[1:] else float(when)
    lines = [json.dumps({"timestamp": "2026-11-01T00:00:00Z", "message": f"user {i} logged in"}) for i in range(50)]
    lines.append(json.dumps({"timestamp": value, "message": "disk full on /dev/sda1"}))
    log = tmp_path / "in.log"
    log.write_text("\n".join(lines) + "\n")
    logvec_cli("run", "-p", pipe, "-i", log, "-d", tmp_path / "d")
    hits = json.loads(logvec_cli("search", "disk full on /dev/sda1", "-p", pipe, "-d", tmp_path / "d", "-k", "1",
                                 "--format", "json").stdout)
    assert hits[0]["message"] == "disk full on /dev/sda1"
    assert hits[0]["timestamp"] is None and "bad_timestamp" in hits[0]["flags"]


def test_a_torn_dead_letter_line_is_reported_not_fatal(tmp_path):
    letters = DeadLetterFile(tmp_path / "dead-letters.jsonl")
    letters.write([DeadLetter("a.log:1", "invalid JSON", "{oops")])
    with letters.path.open("a") as f:
        f.write('{"origin": "a.log:2", "reason": "no pat')  # the disk filled up mid-line
    letters.write([DeadLetter("a.log:3", "invalid JSON", "{again")])
    got = letters.read()
    assert [d.origin for d in got] == ["a.log:1", f"{letters.path}:2", "a.log:3"]
    assert "torn write" in got[1].reason and got[1].raw.startswith('{"origin": "a.log:2"')


def test_nested_yaml_aliases_load_in_linear_time(tmp_path):
    """The billion laughs: nine levels of nine references. Each alias is one object, substituted once."""
    levels = ["a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    p = tmp_path / "laughs.yaml"
    p.write_text("x-anchors:\n" + "\n".join("  " + line for line in levels) + "\ndescription: *i\n")
    t = time.monotonic()
    with pytest.raises(ConfigError) as e:
        load_pipeline(p)
    assert time.monotonic() - t < 10  # a guard against minutes, not a speed claim
    assert "x-anchors: unknown key" in str(e.value) and "description" in str(e.value)


def test_a_key_given_twice_is_an_error_naming_it(tmp_path):
    p = tmp_path / "twice.yaml"
    p.write_text("run:\n  batch_size: 10\n  batch_size: 20\n")
    with pytest.raises(ConfigError, match=r"(?s)key .batch_size. is given twice.*line 3"):
        load_pipeline(p)


def test_an_absurd_batch_size_is_refused(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("run:\n  batch_size: 1000000000000\n")
    with pytest.raises(ConfigError, match=r"run\.batch_size: .*less than or equal to 1000000"):
        load_pipeline(p)


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    pipe = tmp_path / "json.yaml"
    pipe.write_text(f"extends: {DEFAULT}\nparse:\n  type: json\n")
    log = tmp_path / "bom.log"
    log.write_bytes(b"\xef\xbb\xbf" + b'{"message": "first"}\n{"message": "second"}\n')
    summary = json.loads(logvec_cli("run", "-p", pipe, "-i", log, "-d", tmp_path / "d", "--format", "json").stdout)
    assert summary["records"] == 2 and summary["dead_letters"] == 0


def test_a_cut_gzip_is_read_to_its_break_and_the_run_ends_with_its_summary(tmp_path, hdfs_log):
    import gzip

    cut = tmp_path / "hdfs.log.gz"
    cut.write_bytes(gzip.compress(hdfs_log.read_bytes())[:-3000])
    proc = logvec_cli("run", "-p", DEFAULT, "-i", cut, "-d", tmp_path / "d", "--format", "json")
    summary = json.loads(proc.stdout)
    assert 0 < summary["records"] < len(hdfs_log.read_text().splitlines()) and summary["dead_letters"] == 1
    (letter,) = DeadLetterFile(tmp_path / "d" / "dead-letters.jsonl").read()
    assert letter.origin == f"{cut.resolve()}:{summary['records'] + 1}" and "unreadable" in letter.reason


def test_a_rerun_of_the_same_input_adds_no_dead_letter_twice(tmp_path):
    log = tmp_path / "in.log"
    log.write_bytes(b"a normal line\n\x00\x01\x02 binary junk\x00\nanother normal line\n")
    for _ in range(2):
        summary = json.loads(logvec_cli("run", "-p", DEFAULT, "-i", log, "-d", tmp_path / "d", "--format",
                                        "json").stdout)
        assert summary["dead_letters"] == 1  # what this run met
    letters = DeadLetterFile(tmp_path / "d" / "dead-letters.jsonl").read()
    assert [d.origin for d in letters] == [f"{log.resolve()}:2"]  # what the place holds: once


@pytest.fixture(scope="module")
def sound_data(tmp_path_factory, hdfs_log):
    data = tmp_path_factory.mktemp("sound") / "d"
    logvec_cli("run", "-p", DEFAULT, "-i", hdfs_log, "-d", data)
    return data


def damaged(sound_data, tmp_path, harm) -> object:
    import shutil

    data = tmp_path / "d"
    shutil.copytree(sound_data, data)
    harm(data)
    return data


def cut_vectors(data):
    f = data / "store" / "vectors.f32"
    f.write_bytes(f.read_bytes()[:-4096])


def scramble_vectors(data):
    import numpy as np

    f = data / "store" / "vectors.f32"
    f.write_bytes(np.random.default_rng(0).bytes(f.stat().st_size))


def cut_model(data):
    """The published version (what search and other workers load)."""
    f = data / "models" / "versions" / "000001" / "model.pkl"
    f.write_bytes(f.read_bytes()[:100])


def cut_working_copy(data):
    """The worker's own copy (what a restarted worker resumes with)."""
    f = data / "model" / "model.pkl"
    f.write_bytes(f.read_bytes()[:100])


def test_doctor_passes_a_sound_data_directory(sound_data):
    proc = logvec_cli("doctor", "-p", DEFAULT, "-d", sound_data)
    assert b"sound" in proc.stdout


@pytest.mark.parametrize("harm,said,search_exit", [
    (cut_vectors, "was cut short", 1),
    (lambda d: (d / "store" / "meta.json").unlink(), "meta.json is missing", 1),
    (scramble_vectors, "not of unit length", None),
    (cut_model, "is damaged", 2),
    (cut_working_copy, "is damaged", None),
], ids=["vectors cut", "meta deleted", "vectors overwritten", "model cut", "working copy cut"])
def test_a_damaged_data_directory_is_named_not_searched_blind(sound_data, tmp_path, harm, said, search_exit):
    data = damaged(sound_data, tmp_path, harm)
    doctor = logvec_cli("doctor", "-p", DEFAULT, "-d", data, check=False)
    assert doctor.returncode == 1 and said in doctor.stderr.decode(), doctor.stderr.decode()
    search = logvec_cli("search", "Receiving block blk_1", "-p", DEFAULT, "-d", data, "--format", "json",
                        check=False)
    if search_exit is not None:  # refused with one line saying why, never a traceback or an empty answer
        assert search.returncode == search_exit and said in search.stderr.decode()
        assert b"Traceback" not in search.stderr


def test_a_disk_that_takes_no_more_is_one_line_the_summary_and_exit_1(tmp_path, hdfs_log):
    """Case 5: the process may write no file past 400 kB (RLIMIT_FSIZE: writes fail as on a full disk). The run
    prints its summary and one line saying why it stopped, no traceback; the directory stays sound, and a rerun
    with room finishes the job."""
    import resource
    import signal
    import subprocess
    import sys
    from pathlib import Path

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    data = tmp_path / "d"
    argv = [str(Path(sys.executable).parent / "logvec"), "run", "-p", str(DEFAULT), "-i", str(hdfs_log), "-d",
            str(data)]
    full = subprocess.run(argv, preexec_fn=no_room, capture_output=True, text=True, timeout=300)
    assert full.returncode == 1
    errors = [line for line in full.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error:") and "could not write" in errors[0], full.stderr
    assert "Traceback" not in full.stderr and "records stored" in full.stdout
    assert "are sound" in logvec_cli("doctor", "-p", DEFAULT, "-d", data).stdout.decode()
    logvec_cli("run", "-p", DEFAULT, "-i", hdfs_log, "-d", data)
    stats = json.loads(logvec_cli("stats", "-p", DEFAULT, "-d", data, "--format", "json").stdout)
    assert stats["records"] == 4519 and stats["problems"] == []
