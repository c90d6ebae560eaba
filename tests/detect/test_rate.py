"""Rate anomalies: storms of known templates flagged on their records, drops reported as events."""

import json
import sqlite3

import numpy as np

from logvec.config import RateConfig, parse_pipeline
from logvec.detect.rate import RateModel, RateTracker
from logvec.evaluate import evaluate
from logvec.pipeline import Runner
from logvec.records import RawBatch

from tests.support import OPEN_ACCESS, write_case
from tests.synthetic import rate_logs

ISO = {"parse": {"type": "regex", "patterns": [
    r"^(?P<timestamp>\S+) (?P<level>[A-Z]+) (?P<service>[\w-]+): (?P<message>.*)$"]}}


def _eval(tmp_path, train, test, labels, **extra):
    tr, _ = write_case(tmp_path, train, [0] * len(train), "train")
    te, lab = write_case(tmp_path, test, labels, "test")
    return evaluate(parse_pipeline({**ISO, **extra}), [str(tr)], [str(te)], str(lab))


def test_a_storm_of_a_known_warning_is_flagged_on_its_records_and_nothing_else(tmp_path):
    train, _ = rate_logs(60, seed=1)
    test, labels = rate_logs(90, seed=2, start=1_699_999_980.0 + 3600, storm=(40, 50))
    r = _eval(tmp_path, train, test, labels)
    s = r.scored
    storm = s.labels == 1
    assert storm.sum() > 600
    assert s.flagged[storm].all(), "every line of the storm, those before its window's count crossed too"
    assert not s.flagged[~storm].any(), [x for x, f, y in zip(s.reasons, s.flagged, s.labels) if f and not y][:3]
    assert all("rate storm" in x and "expected" in x for x, y in zip(s.reasons, s.labels) if y)
    storms = [e for e in r.rate_events if e["kind"] == "storm"]
    assert len(storms) == 10 and all(e["observed"] >= 40 and e["expected"] < 3 for e in storms)


def test_the_same_warning_at_its_usual_rate_or_a_small_burst_is_not_a_storm(tmp_path):
    train, _ = rate_logs(60, seed=3)
    test, labels = rate_logs(120, seed=4, start=1_699_999_980.0 + 3600)
    burst = [f"2023-11-14T23:{m:02d}:30.000Z WARN storage: disk latency high on sd1: 5ms" for m in (30, 31)] * 3
    r = _eval(tmp_path, train, test + burst, labels + [0] * len(burst))
    assert not r.scored.flagged.any()
    assert [e for e in r.rate_events if e["kind"] == "storm"] == []


def test_a_heartbeat_that_stops_is_a_drop_event(tmp_path):
    train, _ = rate_logs(60, seed=5)
    test, labels = rate_logs(60, seed=6, start=1_699_999_980.0 + 3600, silent=(20, 25))
    r = _eval(tmp_path, train, test, labels)
    drops = [e for e in r.rate_events if e["kind"] == "drop"]
    minutes = sorted(int((e["window_start"] - (1_699_999_980.0 + 3600)) // 60) for e in drops)
    assert minutes == [20, 21, 22, 23, 24], drops
    assert all(e["template"] == "heartbeat ok" and e["observed"] == 0 and e["expected"] > 20 for e in drops)


def test_rate_model_thresholds_follow_the_baseline_rate():
    ts = np.arange(0, 3600, 2.0)  # one line every 2 s: 30 a minute
    model = RateModel(window="1m").fit(["svc"] * len(ts), np.zeros(len(ts), dtype=np.int64), ts)
    key = ("svc", 0)
    assert model.expected_[key] == 30
    assert 45 < model.storm_at_[key] <= 5 * 40  # well above 30, within min_ratio of the rate's upper bound
    assert key in model.drop_low_ and model.is_drop(key, 0, 30) and not model.is_drop(key, 25, 30)
    # a worker that reads half the partitions sees half the lines of every template: no drop
    assert not model.is_drop(key, 15, 15) and model.is_drop(key, 0, 15)
    tracker = RateTracker(model)
    quiet = tracker.add(["svc"] * 30, np.zeros(30, dtype=np.int64), np.linspace(3600, 3659, 30),
                        [f"a{i}" for i in range(30)])
    assert not quiet.flagged.any()


def test_rates_off_in_the_pipeline_watch_nothing(tmp_path):
    train, _ = rate_logs(30, seed=7)
    test, labels = rate_logs(30, seed=8, start=1_699_999_980.0 + 1800, storm=(10, 20))
    r = _eval(tmp_path, train, test, labels, rate={"enabled": False})
    assert r.rate_events == [] and not r.scored.flagged[np.array(labels) == 1].any()


def test_run_stores_storm_flags_and_events(tmp_path):
    """Through `Runner`: the storm's records are stored flagged with kind `rate` (those read before the crossing
    flagged afterwards), and the events are kept in the store."""
    config = parse_pipeline({**ISO, "run": {"batch_size": 500, "warmup_lines": 6000}})
    train, _ = rate_logs(60, seed=9)
    test, labels = rate_logs(60, seed=10, start=1_699_999_980.0 + 3600, storm=(30, 40))
    lines = train + test
    runner = Runner(config, tmp_path / "d")
    batches = [RawBatch(lines[i:i + 500], [f"f:{j + 1}" for j in range(i, min(i + 500, len(lines)))])
               for i in range(0, len(lines), 500)]
    summary = runner.run(iter(batches))
    try:
        assert summary.rate_events >= 10
        with sqlite3.connect(tmp_path / "d" / "store" / "records.sqlite") as db:
            rows = db.execute(
                "SELECT id, is_anomaly, anomaly_kinds FROM records WHERE message LIKE 'disk latency%'").fetchall()
        by_line = {int(rid.split(":")[1]): (flag, kinds or "") for rid, flag, kinds in rows}
        storm_lines = [len(train) + i + 1 for i, y in enumerate(labels) if y]
        assert all(by_line[n][0] == 1 and "rate" in by_line[n][1] for n in storm_lines)
        calm = [n for n in by_line if n not in set(storm_lines)]
        assert calm and not any(by_line[n][0] for n in calm)
        events = runner.store.rate_events(kind="storm", limit=100)
        assert len(events) == 10 and {e["template"] for e in events} == {"disk latency high on <NUM>: <NUM>"}
        assert json.dumps(events)  # plain JSON for the CLI and the API
    finally:
        runner.close()


def test_rate_config_rejects_a_bad_window():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="not a duration"):
        RateConfig(window="soon")


def test_events_through_the_cli_and_the_api(tmp_path):
    """`logvec run` on a log whose second hour holds a storm: `logvec events` and `/api/events` list its windows,
    and the storm's records come back from search with kind `rate`."""
    from fastapi.testclient import TestClient

    from logvec.api import create_app

    from tests.support import logvec_cli

    pipe = tmp_path / "p.yaml"
    pipe.write_text(json.dumps({**ISO, "run": {"warmup_lines": 7000}}))
    train, _ = rate_logs(60, seed=11)
    test, labels = rate_logs(60, seed=12, start=1_699_999_980.0 + 3600, storm=(30, 35))
    log = tmp_path / "in.log"
    log.write_text("\n".join(train + test) + "\n")
    summary = json.loads(logvec_cli("run", "-p", pipe, "-i", log, "-d", tmp_path / "d", "--format", "json").stdout)
    assert summary["rate_events"] == 5 and summary["anomalies"] >= sum(labels)
    events = json.loads(logvec_cli("events", "-p", pipe, "-d", tmp_path / "d", "--format", "json").stdout)
    assert [e["kind"] for e in events] == ["storm"] * 5
    assert sorted(e["window_start"] for e in events) == [1_699_999_980.0 + 3600 + 60 * m for m in range(30, 35)]
    client = TestClient(create_app(parse_pipeline({**ISO, "run": {"warmup_lines": 7000}}), tmp_path / "d",
                                   access=OPEN_ACCESS))
    assert client.get("/api/events", params={"kind": "storm"}).json() == events
    assert client.get("/api/events", params={"kind": "drop"}).json() == []
    assert client.get("/api/events", params={"kind": "weird"}).status_code == 422
    hits = client.get("/api/search", params={"q": "disk latency high on sd3: 40ms", "anomalies": "true",
                                             "k": 20}).json()
    assert hits and all(h["anomaly_kinds"] == ["rate"] and "rate storm" in h["reason"] for h in hits)


def test_lines_for_a_window_already_judged_are_not_counted_again():
    """A partition lagging a few minutes in event time must not make the windows it fills late look like
    drops (their other lines were counted and judged already)."""
    ts = np.arange(0, 3600, 2.0)
    model = RateModel(window="1m").fit(["svc"] * len(ts), np.zeros(len(ts), dtype=np.int64), ts)
    tracker = RateTracker(model)
    steady = np.arange(3600, 3900, 2.0)  # five minutes of the usual 30 a minute
    update = tracker.add(["svc"] * len(steady), np.zeros(len(steady), dtype=np.int64), steady,
                         [f"a{i}" for i in range(len(steady))])
    assert update.events == []
    late = np.array([3601.0, 3602.0])  # two late lines for the first minute, then time goes on
    events = tracker.add(["svc"] * 2, np.zeros(2, dtype=np.int64), late, ["l1", "l2"]).events
    later = np.arange(3900, 3960, 2.0)
    events += tracker.add(["svc"] * len(later), np.zeros(len(later), dtype=np.int64), later,
                          [f"b{i}" for i in range(len(later))]).events
    assert [e for e in events if e.kind == "drop"] == []


def test_drops_of_many_pairs_at_once_agree_with_each_pair_judged_alone():
    """A steady pair (Poisson) and a bursty one (negative binomial), judged together for one window, give what
    each one's own scipy distribution gives."""
    rng = np.random.default_rng(3)
    ts = np.arange(0, 7200, 1.0)
    steady = np.zeros(len(ts), dtype=np.int64)
    bursty = np.where(rng.random(len(ts)) < 0.5 * (1 + np.sin(ts / 300)), 1, 2)  # a rate that swings
    model = RateModel(window="1m", p_value=1e-3).fit(["svc"] * (2 * len(ts)), np.concatenate([steady, bursty]),
                                                      np.concatenate([ts, ts]))
    keys = [("svc", 0), ("svc", 1), ("svc", 2)]
    for k in keys:  # watch every pair, bursty ones too (the fit watches only pairs whose silence is news)
        model.drop_low_.setdefault(k, model.expected_[k] * 0.8)
    assert model.size_[("svc", 0)] is None and model.size_[("svc", 1)] and model.size_[("svc", 2)]
    for lines in (60, 120, 40):
        for observed in range(0, 80, 3):
            got = model.drops_in(keys, np.full(len(keys), observed), lines).tolist()
            scale = lines / model.lines_per_window_
            alone = [bool(model.distribution(k, model.drop_low_[k] * scale).cdf(observed) < model.p_value)
                     for k in keys]
            assert got == alone, (lines, observed)
