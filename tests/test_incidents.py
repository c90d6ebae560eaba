"""Incidents: anomalies grouped by bursts, time and relatedness; similar past incidents; feedback.

The end-to-end cases fit on a clean hour of shop traffic and run on four later hours holding three incidents
(a disk filling up on one node, the database going down, the disk filling up on another node two and a half
hours later). Nothing here was tuned on these logs' seeds: two seeds with different incident times are run.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from prometheus_client import REGISTRY

from logvec.config import IncidentsConfig, load_pipeline
from logvec.incidents import Anomaly
from logvec.incidents.grouping import bursts, group
from logvec.pipeline import Runner
from logvec.searcher import Searcher
from tests.support import PIPELINES, raw_batches
from tests.synthetic import incident_logs

HOUR = 3600.0
T0 = 1_700_000_000.0


def fitted(data, config, seed: int = 1) -> Runner:
    clean, _ = incident_logs(60, seed=seed, start=T0)
    runner = Runner(config, data, load_model=False)
    runner.fit(raw_batches(clean, "clean.log"), activate_it=True)
    return runner


SCENARIOS = {  # seed -> incidents as (kind, first minute, minutes, node) in the four hours after the clean one
    2: [("disk_full", 40, 3, "node-03"), ("db_down", 110, 4, ""), ("disk_full", 200, 3, "node-06")],
    7: [("disk_full", 25, 4, "node-01"), ("db_down", 150, 3, ""), ("disk_full", 190, 5, "node-05")],
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def three_incidents(request, tmp_path_factory):
    seed = request.param
    data = tmp_path_factory.mktemp(f"incidents-{seed}")
    config = load_pipeline(PIPELINES / "default.yaml")
    lines, labels = incident_logs(240, seed=seed, start=T0 + HOUR, incidents=SCENARIOS[seed])
    runner = fitted(data, config)
    summary = runner.run(raw_batches(lines, "hours.log"))
    runner.close()
    searcher = Searcher(config, data)
    yield searcher, lines, np.array(labels), summary
    searcher.close()


def test_each_incident_is_one_incident_and_the_repeat_finds_the_first(three_incidents):
    searcher, lines, labels, summary = three_incidents
    found = sorted(searcher.incidents(), key=lambda i: i.start)
    assert 3 <= len(found) <= 6 and summary.incidents == len(found)
    owners = []
    for k in (1, 2, 3):  # every line of injected incident k lies in exactly one incident, and it is one incident
        rows = np.flatnonzero(labels == k)
        ts = [float(np.datetime64(lines[r][:23]).astype("datetime64[ms]").astype(np.int64)) / 1000 for r in rows]
        holding = {i.id for t in ts for i in found if i.start - 1e-3 <= t <= i.end + 1e-3}
        assert len(holding) == 1, (k, holding)
        owners.append(holding.pop())
    assert len(set(owners)) == 3
    first_disk, db, second_disk = (searcher.incident(i) for i in owners)
    assert any("No space left on device" in t["template"] for t in first_disk.top_templates[:2])
    assert {"storage", "api"} <= set(first_disk.services) and "db" in db.services
    assert all(i.status == "closed" and i.signature is None for i in found)  # listed without signatures

    similar = searcher.similar_incidents(second_disk)
    assert similar and similar[0][0].id == first_disk.id and similar[0][1] > 0.9
    assert all(other.id != db.id or score < similar[0][1] - 0.3 for other, score in similar)
    assert not any(other.start > second_disk.end for other, _ in similar)  # past incidents only
    assert first_disk.id not in {o.id for o, _ in searcher.similar_incidents(first_disk)} and \
        second_disk.id not in {o.id for o, _ in searcher.similar_incidents(first_disk)}


def test_pasted_lines_find_the_incident_they_came_from(three_incidents):
    searcher, lines, labels, _ = three_incidents
    pasted = [lines[r] for r in np.flatnonzero(labels == 2)[:15]]
    target = searcher.incident_of_lines(pasted)
    best = searcher.similar_incidents(target, past_only=False)
    assert best and "db" in best[0][0].services and best[0][1] > 0.8
    with pytest.raises(ValueError, match="empty"):
        searcher.incident_of_lines(["", "   "])


def test_a_question_in_words_finds_the_lines_that_say_it(three_incidents):
    searcher, *_ = three_incidents
    hits = searcher.search("the disk is full", k=5)
    assert sum("No space left on device" in h.message for h in hits) >= 3, [h.message for h in hits]
    assert all(h.meaning is not None and h.score >= searcher.config.search.min_score for h in hits)
    assert searcher.search("banana pancake recipe", k=5) == []  # nothing close: no noise listed
    line = next(h for h in hits).message  # a pasted line still finds itself first, by the pipeline's vectors
    assert searcher.search(line, k=3)[0].message == line


def test_rebuild_gives_what_the_stream_built(three_incidents):
    searcher, *_ = three_incidents
    streamed = {(i.id, i.anomalies, i.start, i.end) for i in searcher.store.incidents(limit=100)}
    rebuilt = {(i.id, i.anomalies, i.start, i.end) for i in searcher.rebuild_incidents()}
    assert rebuilt == streamed
    assert {(i.id, i.anomalies, i.start, i.end) for i in searcher.store.incidents(limit=100)} == streamed


def test_an_open_incident_grows_under_one_id(tmp_path):
    config = load_pipeline(PIPELINES / "default.yaml")
    config.incidents.update_interval = 0.0  # every batch
    lines, labels = incident_logs(30, seed=3, start=T0 + HOUR, incidents=[("db_down", 10, 6, "")])
    runner = fitted(tmp_path, config)
    opened_before = REGISTRY.get_sample_value("logvec_incidents_opened_total") or 0.0
    seen: list[list[tuple[str, int, str]]] = []
    runner.run(raw_batches(lines, "grow.log", size=100),
               on_batch=lambda s: seen.append([(i.id, i.anomalies, i.status) for i in runner.store.incidents()]))
    runner.close()
    during = [snap for snap in seen if snap]
    assert len(during) > 3
    ids = {i for snap in during for i, _, _ in snap}
    assert len(ids) == 1  # never split, never a second id for the same incident
    counts = [snap[0][1] for snap in during]
    assert counts == sorted(counts) and counts[0] < counts[-1] == int(np.sum(np.array(labels) == 1))
    assert during[0][0][2] == "open" and during[-1][0][2] == "closed"
    assert REGISTRY.get_sample_value("logvec_incidents_opened_total") == opened_before + 1  # once, not per update
    assert REGISTRY.get_sample_value("logvec_incidents_open") == 0


def anomaly(i: int, ts: float, service: str = "db", tid: int | None = 1, kinds=("new_template",)) -> Anomaly:
    return Anomaly(f"r{i}", ts, service, tid, f"template {tid}", f"line {i}", list(kinds))


def test_bursts_make_incidents_and_background_does_not():
    chronic = [anomaly(i, T0 + 30 * i, "payments", 7, ["severity"]) for i in range(240)]  # every 30 s for 2 h
    # a storm of it inside its background is the rate detector's to see: those lines come flagged `rate`
    storm = [anomaly(1000 + i, T0 + 3000 + i, "payments", 7, ["severity", "rate"]) for i in range(40)]
    rare = [anomaly(1500 + i, T0 + 8000 + 3 * i, "auth", 8, ["rare"]) for i in range(20)]  # 20 in a minute
    chance = [anomaly(1600 + i, T0 + 9000 + 30 * i, "auth", 8, ["rare"]) for i in range(3)]  # 3 in 90 s: chance
    new = [anomaly(2000 + i, T0 + 5000 + 10 * i, "storage", 9) for i in range(3)]
    lone = [anomaly(3000 + i, T0 + 6000 + 10 * i, "storage", 10) for i in range(2)]  # two: below min_burst
    expected = {("payments", 7): 2.0, ("auth", 8): 0.5}  # the baseline's lines a minute
    kept = bursts(chronic + storm + rare + chance + new + lone, gap=300, min_burst=3, burst_ratio=5,
                  expected=lambda s, t: expected.get((s, t), 0.0), window_s=60)
    ids = {a.id for a in kept}
    assert ids == {a.id for a in storm + rare + new}
    assert len({a.id for a in bursts(chronic, gap=300, expected=lambda s, t: 0.0)}) == 240  # never seen: a burst


def test_grouping_by_time_and_relatedness():
    c = IncidentsConfig()
    cascade = [anomaly(1, T0, "db", 1), anomaly(2, T0 + 20, "api", 2)]  # unrelated, but within link_window
    related = [anomaly(3, T0 + 200, "db", 3)]  # shares a service, within gap
    unrelated = [anomaly(4, T0 + 420, "mail", 4)]  # within gap of the last, beyond link_window, shares nothing
    later = [anomaly(5, T0 + 420 + c.gap + 1, "mail", 4)]  # a gap after: a new incident
    groups = group(cascade + related + unrelated + later, c.gap, c.link_window)
    assert [[a.id for a in g] for g in groups] == [["r1", "r2", "r3"], ["r4"], ["r5"]]


def test_feedback_marks_normal_expires_resolves_and_refits(tmp_path):
    config = load_pipeline(PIPELINES / "default.yaml")
    runner = fitted(tmp_path, config)
    first, _ = incident_logs(60, seed=4, start=T0 + HOUR, incidents=[("db_down", 20, 4, "")])
    runner.run(raw_batches(first, "first.log"))
    runner.close()
    searcher = Searcher(config, tmp_path)
    (db,) = searcher.incidents()
    marks = searcher.mark_normal("sre@example", incident_id=db.id, until=time.time() + 3600, note="planned failover")
    assert {m.template for m in marks} == {t["template"] for t in db.top_templates} and all(m.example for m in marks)
    resolved = searcher.resolve(db.id, "failover done", by="sre@example")
    assert resolved.status == "resolved" and resolved.resolution["by"] == "sre@example"
    assert searcher.rebuild_incidents()[0].resolution["note"] == "failover done"  # kept through a rebuild
    searcher.close()

    again, labels = incident_logs(60, seed=5, start=T0 + 3 * HOUR, incidents=[("db_down", 20, 4, "")])
    runner = Runner(config, tmp_path)
    s = runner.run(raw_batches(again, "again.log"))
    runner.close()
    assert s.suppressed >= int(np.sum(np.array(labels) == 1)) * 0.9 and s.incidents == 0  # marked normal
    searcher = Searcher(config, tmp_path)
    assert [i.id for i in searcher.incidents()] == [db.id]
    mark = searcher.store.feedback()[0]
    assert mark.by == "sre@example" and mark.note == "planned failover" and mark.until > time.time()

    searcher.store.upsert_feedback([replace(m, until=time.time() - 1) for m in searcher.store.feedback()])
    searcher.close()  # expired: judged again
    third, _ = incident_logs(60, seed=6, start=T0 + 5 * HOUR, incidents=[("db_down", 20, 4, "")])
    runner = Runner(config, tmp_path)
    s = runner.run(raw_batches(third, "third.log"))
    assert s.suppressed == 0 and s.incidents == 1

    # a refit learns the marked templates' example lines as normal traffic
    runner.store.upsert_feedback([replace(m, until=None) for m in runner.store.feedback()])
    examples = [m.example for m in runner.store.feedback()]
    clean, _ = incident_logs(60, seed=8, start=T0)
    model = runner.fit(raw_batches(clean, "refit.log"), activate_it=False)
    runner.close()
    assert model.meta["baseline_lines"] == len(clean) + len(examples)
    assert (model.miner.match(runner.text.masker.mask(examples)) >= 0).all()  # templates of the baseline now


def test_the_incident_and_feedback_commands_and_their_bad_input(tmp_path):
    """`logvec incidents` and `logvec feedback` as a user types them: answers as JSON, and every mistake one line
    naming it, exit 2, nothing written."""
    import json

    from tests.support import logvec_cli

    config = load_pipeline(PIPELINES / "default.yaml")
    lines, _ = incident_logs(60, seed=4, start=T0 + HOUR, incidents=[("db_down", 20, 4, "")])
    runner = fitted(tmp_path / "d", config)
    runner.run(raw_batches(lines, "shop.log"))
    runner.close()
    base = ("-p", PIPELINES / "default.yaml", "-d", tmp_path / "d")
    (db,) = json.loads(logvec_cli("incidents", *base, "--format", "json").stdout)
    assert "db" in db["services"] and db["end"].endswith("Z")
    pasted = tmp_path / "pasted.txt"
    pasted.write_text("\n".join(x for x in lines if "connection refused" in x) + "\n")
    (like,) = json.loads(logvec_cli("incidents", *base, "--similar-to", pasted, "--format", "json").stdout)
    assert like["id"] == db["id"] and like["score"] > 0.5 and like["why"]["services"] == ["db"]  # 1 of 3 templates

    (tmp_path / "empty.txt").write_text("\n\n")
    mistakes = {
        ("incidents", "--similar", "nope"): "no incident 'nope'",
        ("incidents", "--similar-to", tmp_path / "empty.txt"): "the text is empty",
        ("incidents", "--similar-to", tmp_path / "missing.txt"): "missing.txt",
        ("incidents", "--since", "last tuesday"): "cannot read 'last tuesday' as a time",
        ("feedback", "normal"): "give one of --incident ID or --template TEXT",
        ("feedback", "normal", "--incident", db["id"], "--expires", "soon"): "--expires: not a duration",
        ("feedback", "resolve", "nope"): "no incident 'nope'",
        ("feedback", "unmark", "nope"): "no mark 'nope'",
    }
    for args, said in mistakes.items():
        proc = logvec_cli(*args, *base, check=False)
        assert proc.returncode == 2 and said in proc.stderr.decode(), (args, proc.stderr.decode())
    assert json.loads(logvec_cli("feedback", "list", *base, "--format", "json").stdout) == []  # nothing written
    assert json.loads(logvec_cli("incidents", *base, "--format", "json").stdout)[0]["status"] == "closed"

    logvec_cli("feedback", "normal", "--incident", db["id"], "--expires", "1h", "--note", "failover", *base)
    marks = json.loads(logvec_cli("feedback", "list", *base, "--format", "json").stdout)
    assert {m["template"] for m in marks} == {t["template"] for t in db["top_templates"]}
    assert all(m["note"] == "failover" and "@" in m["by"] and m["until"] > time.time() for m in marks)
