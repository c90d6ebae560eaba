"""The main job: batches flow source → parse → mask → templates → vectorize → detect → store.

`Runner` owns the stages for one data directory. It runs the registry's active model version; when there is
none, one worker of the fleet (the fit lease's holder) fits on the first `run.warmup_lines` lines of its
input, publishes and activates that version, and goes on with the same input, while the others wait for it.
The read side (`search`, `stats`, the API) is `logvec.searcher.Searcher`, which opens no source or sink.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np

from logvec.config import KafkaSourceConfig, PipelineConfig
from logvec.deadletter import DeadLetterFile, DeadLetterSink
from logvec.detect.rate import RateTracker
from logvec.errors import NotFittedError
from logvec.health import WORKER, Health
from logvec.incidents.feedback import FEEDBACK_POLL_S, Suppressions
from logvec.incidents.tracker import IncidentTracker
from logvec.metrics import (
    INCIDENTS_OPEN,
    INCIDENTS_OPENED,
    ANOMALIES,
    ANOMALIES_BY_KIND,
    ANOMALIES_BY_SERVICE,
    DEAD_LETTERS,
    RECORDS_PROCESSED,
    SERVICE_LABELS,
    STAGE_SECONDS,
    STORE_WRITE_SECONDS,
)
from logvec.model import Model, ModelError
from logvec.records import RawBatch, RecordBatch
from logvec.registry import Registry, RegistryError, activate, open_registry, who
from logvec.sessions import ClosedSession, SessionTracker
from logvec.store import Store, open_store
from logvec.store.base import SessionRow, StoreUnavailableError
from logvec.textstages import TextPool, TextResult, TextStages, count_redactions, resolve_processes
from logvec.vectorize import Vectors

log = logging.getLogger("logvec.run")
MODEL_SAVE_INTERVAL_S = 60.0
LEASE_POLL_S = 0.25  # how often a worker waiting for the fit lease tries again


@dataclass
class RunSummary:
    lines: int = 0
    records: int = 0
    blank: int = 0
    dead_letters: int = 0
    anomalies: int = 0
    sessions: int = 0
    session_anomalies: int = 0
    sessions_open: int = 0  # still open when a stop was asked for: not scored
    rate_events: int = 0  # storms and drops of (service, template) rates
    incidents: int = 0  # incidents opened or grown by this run
    suppressed: int = 0  # records not flagged because their template is marked normal
    templates: int = 0
    fitted: bool = False
    seconds: float = 0.0
    active_seconds: float = 0.0  # first line read to last batch stored (a stream's join and idle tail left out)
    active_from: float = 0.0  # the same span in Unix time, to add up workers that ran side by side
    active_until: float = 0.0
    model_at: float = 0.0  # Unix time the worker had the fleet's model and went past warm-up (lease released)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def lines_per_second(self) -> float:
        busy = self.active_seconds or self.seconds
        return self.lines / busy if busy > 0 else 0.0

    @classmethod
    def merge(cls, summaries: list[dict]) -> "RunSummary":
        """Workers that ran side by side as one run: counts and stage seconds add up, the active span runs
        from the first one's first line to the last one's last stored batch."""
        s = cls()
        for d in summaries:
            for name in ("lines", "records", "blank", "dead_letters", "anomalies", "sessions", "session_anomalies",
                         "sessions_open", "rate_events", "suppressed"):
                setattr(s, name, getattr(s, name) + d[name])
            s.templates = max(s.templates, d["templates"])  # one model directory
            s.incidents = max(s.incidents, d.get("incidents", 0))  # one store: workers write the same incidents
            s.fitted = s.fitted or d["fitted"]
            s.seconds = max(s.seconds, d["seconds"])
            for stage, seconds in d["stage_seconds"].items():
                s.stage_seconds[stage] = s.stage_seconds.get(stage, 0.0) + seconds
        active = [d for d in summaries if d["active_until"]]
        if active:
            s.active_from = min(d["active_from"] for d in active)
            s.active_until = max(d["active_until"] for d in active)
            s.active_seconds = s.active_until - s.active_from
        return s

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lines_per_second"] = round(self.lines_per_second, 1)
        d["seconds"] = round(self.seconds, 3)
        d["active_seconds"] = round(self.active_seconds, 3)
        d["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        return d


class Runner:
    def __init__(self, config: PipelineConfig, data_dir: str | Path | None = None, load_model: bool = True,
                 health: Health | None = None) -> None:
        self.config = config
        self.health = health or WORKER  # what /healthz and /readyz report
        self.data_dir = Path(data_dir or config.run.data_dir)
        self.model_dir = self.data_dir / "model"  # this worker's working copy of the active version
        self.registry: Registry = open_registry(config, self.data_dir)
        self.text = TextStages(config)  # redact, parse, mask: here, or in `run.text_processes` worker processes
        self._dead_letters: DeadLetterSink | None = None  # opened at the first letter (`fit` needs no Kafka)
        self.alerts = None
        if config.alerts is not None:
            from logvec.sinks.kafka import KafkaAlerts

            self.alerts = KafkaAlerts(config.alerts, config.source if config.source.type == "kafka" else None)
        self._store: Store | None = None
        self.model: Model | None = None
        if load_model:
            self.adopt_published()
        self.summary = RunSummary()
        self.sessions = SessionTracker(config.session) if config.session is not None else None
        self._rates: RateTracker | None = None  # the stream's rate windows, once there is a model
        self._incidents: IncidentTracker | None = None  # incidents of the model in use, kept up to date
        self._incident_ids: set[str] = set()  # incidents this run wrote
        self._marks: Suppressions | None = None  # templates SREs marked normal, read from the store
        self._marks_read = 0.0
        self._first_data: float | None = None  # when the run's first line arrived

    @property
    def dead_letters(self) -> DeadLetterSink:
        if self._dead_letters is None:
            self._dead_letters = open_dead_letters(self.config, self.data_dir)
        return self._dead_letters

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.config.store, self.data_dir)
        return self._store

    # ------------------------------------------------------------ stages
    def _timed(self, stage: str, fn: Callable, *args):
        t = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t
        self.summary.stage_seconds[stage] = self.summary.stage_seconds.get(stage, 0.0) + dt
        STAGE_SECONDS.labels(stage).observe(dt)
        return out

    def _dead(self, letters: list) -> None:
        if letters:
            self.dead_letters.write(letters)
            self.summary.dead_letters += len(letters)
            for d in letters:
                DEAD_LETTERS.labels(reason_kind(d.reason)).inc()

    def prepare(self, raw: RawBatch, text: TextResult | None = None) -> tuple[RecordBatch, Vectors]:
        """Parse, mask, template, vectorize and score one batch (no writes but dead letters); `text`: the
        batch's text stages when a worker process has done them."""
        if self.model is None:
            raise NotFittedError("no model yet: fit one (logvec fit) or let run fit on its warm-up lines")
        if text is None:
            text = self.text.apply(raw)
        else:
            count_redactions(text)  # counted in the worker's own registry, which nothing serves
        for stage, seconds in text.seconds.items():
            self.summary.stage_seconds[stage] = self.summary.stage_seconds.get(stage, 0.0) + seconds
            STAGE_SECONDS.labels(stage).observe(seconds)
        self.summary.blank += text.blank
        self._dead(text.dead)
        records = text.records
        return records, model_stages(records, self.model, self._timed)

    @property
    def rates(self) -> RateTracker | None:
        if self._rates is None and self.model is not None:
            self._rates = self.model.rate_tracker()
            if self._rates is not None and self._marks:
                self._rates.quiet = self._marks.covers
        return self._rates

    def suppressions(self) -> Suppressions:
        """The templates marked normal (`logvec feedback normal`), read again every FEEDBACK_POLL_S; a store
        that does not answer keeps the marks last read."""
        if self._marks is None or time.monotonic() - self._marks_read > FEEDBACK_POLL_S:
            try:
                self._marks = Suppressions(self.store.feedback())
            except StoreUnavailableError as e:
                log.warning("could not read the templates marked normal (%s); keeping the last read", e)
                self._marks = self._marks or Suppressions([])
            self._marks_read = time.monotonic()
            if self._rates is not None:
                self._rates.quiet = self._marks.covers if self._marks else None
        return self._marks

    def marked_normal(self) -> list[RawBatch]:
        """The example lines of the templates marked normal, for a fit to learn as normal traffic (none when
        the store cannot say: a fit does not wait for it)."""
        try:
            marks = [m for m in self.store.feedback() if m.example and m.active(time.time())]
        except StoreUnavailableError:
            return []
        return [RawBatch([m.example for m in marks], [f"feedback:{m.key}" for m in marks])] if marks else []

    def _suppress(self, records: RecordBatch, marks: Suppressions) -> None:
        """Take the flag off records whose template is marked normal: not stored as anomalies, not alerted."""
        hit = marks.hits(records.services, records.templates, np.flatnonzero(records.is_anomaly))
        if not len(hit):
            return
        records.is_anomaly = np.asarray(records.is_anomaly, dtype=bool).copy()
        records.is_anomaly[hit] = False
        for i in hit.tolist():
            records.reasons[i] = "marked normal (logvec feedback)"
            records.kinds[i] = ""
        self.summary.suppressed += len(hit)

    @property
    def incidents(self) -> IncidentTracker | None:
        if self._incidents is None and self.model is not None and self.config.incidents.enabled:
            self._incidents = IncidentTracker(self.config.incidents, self.store, self.model.vectorizer,
                                              self.text.masker, self.model.model_id, self.model.rate)
        return self._incidents

    def update_incidents(self, finish: bool = False) -> None:
        """Group the anomalies stored since the open incidents began. Incidents are derived from the store
        (`logvec incidents --rebuild` makes them again), so a failure here is logged, never stops the stream."""
        tracker = self.incidents
        if tracker is None:
            return
        try:
            written = self._timed("incidents", tracker.update, finish)
        except StoreUnavailableError:
            raise
        except Exception:  # noqa: BLE001 - see the docstring
            log.exception("incidents were not updated; `logvec incidents --rebuild` makes them again")
            return
        self._incident_ids.update(i.id for i in written)
        self.summary.incidents = len(self._incident_ids)
        INCIDENTS_OPENED.inc(len(tracker.opened))
        INCIDENTS_OPEN.set(tracker.still_open)

    def process(self, raw: RawBatch, text: TextResult | None = None) -> RecordBatch:
        """Prepare, store and alert one batch; when this returns, the batch is durable and may be committed."""
        records, vectors = self.prepare(raw, text)
        tracker, model = self.rates, self.model
        rates = None
        marks = self.suppressions()
        if tracker is not None and model is not None:
            rates = self._timed("rate", tracker.apply, records, model.line_threshold)
        if marks and len(records):
            self._suppress(records, marks)
        t = time.perf_counter()
        refused = self._timed("store", self.store.upsert, records, vectors)
        STORE_WRITE_SECONDS.observe(time.perf_counter() - t)
        self._dead(refused)
        if rates is not None:
            self._rate_results(rates.recalled, rates.events)
        if self.alerts is not None:
            self._timed("alerts", self.alerts.publish, records)
        s = self.summary
        n_anomalies = int(records.is_anomaly.sum())
        s.lines += len(raw) + len(raw.dead)
        s.records += len(records) - len(refused)
        s.anomalies += n_anomalies
        RECORDS_PROCESSED.inc(len(records) - len(refused))
        ANOMALIES.labels("line").inc(n_anomalies)
        count_kinds("line", records.kinds, records.is_anomaly)
        count_services(records.services, records.is_anomaly)
        if self.sessions is not None:
            closed = self.sessions.add(records.sessions, records.ids, records.template_ids, records.timestamps,
                                       time.monotonic())
            self._timed("sessions", self.score_sessions, closed)
        incidents = self.incidents
        if incidents is not None:
            incidents.observe(records.timestamps)
            if incidents.due():
                self.update_incidents()
        return records

    def _rate_results(self, recalled: list[tuple[str, str]], events: list) -> None:
        """Flag the stored records of a storm window read before the storm showed; keep the rate events."""
        if recalled:
            self.store.flag_records(recalled, "rate")
            self.summary.anomalies += len(recalled)
            ANOMALIES.labels("line").inc(len(recalled))
            ANOMALIES_BY_KIND.labels("line", "rate").inc(len(recalled))
        if events:
            self.store.upsert_rate_events(events)
            self.summary.rate_events += len(events)
            for e in events:
                ANOMALIES.labels(f"rate_{e.kind}").inc()

    def score_sessions(self, closed: list[ClosedSession]) -> None:
        """Detect on closed sessions and write their verdicts (flagging the records of anomalous ones)."""
        if not closed or self.model is None:
            return
        det = self.model.detect_sessions([c.key for c in closed], [c.template_ids for c in closed])
        reasons = det.reasons
        self.store.upsert_sessions([
            SessionRow(c.key, c.record_ids, c.first_ts, c.last_ts, bool(flag), float(score), why, kinds)
            for c, flag, score, why, kinds in zip(closed, det.is_anomaly.tolist(), det.scores.tolist(), reasons,
                                                  det.kinds)])
        self.summary.sessions += len(closed)
        self.summary.session_anomalies += int(det.is_anomaly.sum())
        ANOMALIES.labels("session").inc(int(det.is_anomaly.sum()))
        count_kinds("session", det.kinds, det.is_anomaly)

    def take_lease(self, stop: Callable[[], bool] = lambda: False):
        """The registry's fit lease, waited for (None when `stop()` says so first)."""
        lease = self.registry.lease(who())
        while not lease.try_acquire():  # another worker is fitting (or its lease has not lapsed yet)
            if stop():
                return None
            time.sleep(LEASE_POLL_S)
        return lease

    def fit(self, raw_batches: list[RawBatch], activate_it: bool | None = None) -> Model:
        """Fit, publish; activate when asked, or (None) when the registry has no active version yet: then
        under the fit lease, so that a fit Job and workers starting beside it publish one active version."""
        if activate_it is None:
            lease = self.take_lease()
            try:
                return self.fit(raw_batches, activate_it=self.registry.active() is None)
            finally:
                if lease is not None:
                    lease.release()
        model, _ = self._timed("fit", Model.fit, self.config, raw_batches + self.marked_normal())
        published = self.registry.publish(model, by=who())
        if activate_it:
            activate(self.registry, self.store, published.version, by=who())
            model.save(self.model_dir)
            self._use(model)
        self.summary.fitted = True
        return model

    # ------------------------------------------------------------ the model in use
    def _use(self, model: Model) -> None:
        self.model = model
        self._rates = None  # windows are counted against the model that judges them
        self._incidents = None  # ... and incidents' signatures are its vectors
        self.store.use_model(model.model_id)

    def adopt_published(self) -> bool:
        """Load the registry's active version: the working copy when it is that version (it keeps the
        templates learned since), else from the registry. A working copy from before there was a registry is
        published as the first version. False when there is no model anywhere."""
        active = self.registry.active()
        if active is None:
            if not Model.exists(self.model_dir):
                return False
            working = Model.load(self.model_dir, self.config)
            version = self.registry.publish(working, by=who())
            activate(self.registry, self.store, version.version, by=who())
            working.save(self.model_dir)
            self._use(working)
            return True
        if Model.read_meta(self.model_dir).get("model_id") == active.model_id and Model.exists(self.model_dir):
            try:
                self._use(Model.load(self.model_dir, self.config))
                return True
            except ModelError as e:  # the published version is intact: start again from it
                log.warning("%s; loading version %s from the registry instead", e, active.version)
        model = self.registry.load(active.version, self.config)
        model.save(self.model_dir)
        self._use(model)
        return True

    def _follow_activation(self) -> None:
        """At a batch boundary: switch to a version activated since we looked. What the old model holds open
        is judged by it first (sessions, rate windows), then the new one takes over."""
        try:
            active = self.registry.active()
        except Exception as e:  # noqa: BLE001 - a registry blip: keep running the model in hand
            log.warning("could not look for a newly activated model (%s: %s)", type(e).__name__, e)
            return
        if active is None or self.model is None or active.model_id == self.model.model_id:
            return
        try:
            model = self.registry.load(active.version, self.config)
        except (ModelError, RegistryError) as e:  # e.g. fitted under another pipeline: keep the one in hand
            log.error("not switching to model version %s: %s", active.version, e)
            return
        if self.sessions is not None:
            self.score_sessions(self.sessions.close_all())
        if self._rates is not None:
            self._rate_results([], self._rates.close_all())
        model.save(self.model_dir)
        log.info("switching to model version %s (%s)", active.version, active.model_id)
        self._use(model)

    # ------------------------------------------------------------ the loop
    def _mark_first(self, batches: Iterable[RawBatch]) -> Iterator[RawBatch]:
        for raw in batches:
            if self._first_data is None and (len(raw) or raw.dead):
                self._first_data = time.perf_counter()
            yield raw

    def _with_warmup(self, batches: Iterable[RawBatch],
                     should_stop: Callable[[], bool] | None = None) -> Iterator[RawBatch]:
        """Fit on the first warm-up lines when there is no model yet, then replay them and go on.

        A fleet fits one model: the worker that takes the registry's fit lease fits and publishes; the others
        wait for the published version before reading anything (a Kafka worker joins its group only then) and
        load it. A lease whose holder died lapses (a file lock at once, OpenSearch's after `lease_ttl`) and
        the next worker takes it.
        A stop request while waiting for the lock or for warm-up lines (a quiet topic can take hours to
        bring them) ends the run at once: nothing was processed, nothing is committed, the next run reads
        those lines again.
        """
        it = self._mark_first(batches)
        stop = should_stop or (lambda: False)
        self.summary.model_at = time.time()  # unless it waits for, or fits, the model below
        if self.model is None:
            lease = self.take_lease(stop)
            if lease is None:
                return
            try:
                if not self.adopt_published():  # nobody published while we waited: we fit
                    held: list[RawBatch] = []
                    n = 0
                    for raw in it:
                        held.append(raw)
                        n += len(raw)
                        # enough lines, or a followed source has gone quiet: fit on what there is
                        if n >= self.config.run.warmup_lines or (n and not len(raw)):
                            break
                        if stop():
                            return
                    if not n:  # empty input: nothing to fit on, nothing to do
                        return
                    self.fit(held, activate_it=True)
                    # the lines fitted on are stored and committed before the lease is released and a waiting
                    # worker joins the group (it would be given some of their partitions and read them again)
                    yield from held
            finally:
                lease.release()
                self.summary.model_at = time.time()
        yield from it

    def run(self, batches: Iterable[RawBatch], on_batch: Callable[[RunSummary], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            commit: Callable[[RawBatch], None] | None = None) -> RunSummary:
        """Process every batch; `commit(batch)` is called once a batch is stored (Kafka offsets)."""
        start = time.perf_counter()
        s = self.summary
        self._first_data = None
        last_save = last_look = time.monotonic()
        stopped = False
        processes = resolve_processes(self.config)
        pool = TextPool(self.config, processes) if processes else None
        if pool is not None:
            pool.sized(getattr(batches, "size", None))
        stream = self._text_stages(self._with_warmup(self._timed_source(batches), should_stop), pool)
        try:
            with small_matrices():
                for raw, text in stream:
                    self.health.set_ready()  # a model is there and batches flow
                    if len(raw) or raw.dead:
                        self.process(raw, text)
                        if commit is not None:
                            commit(raw)
                        s.active_seconds = time.perf_counter() - (self._first_data or start)
                        s.active_until = time.time()
                        s.active_from = s.active_until - s.active_seconds
                    s.seconds = time.perf_counter() - start
                    self.health.beat()
                    if on_batch:
                        on_batch(s)
                    if time.monotonic() - last_save > MODEL_SAVE_INTERVAL_S:
                        self.model.save(self.model_dir)  # type: ignore[union-attr]
                        last_save = time.monotonic()
                    if time.monotonic() - last_look > self.config.registry.poll_interval:
                        self._follow_activation()
                        last_look = time.monotonic()
                    if should_stop and should_stop():
                        stopped = True
                        break
                if self.sessions is not None and not stopped:  # the input ended: what is open is complete
                    self.score_sessions(self.sessions.close_all())
                if self._rates is not None and not stopped:
                    self._rate_results([], self._rates.close_all())
                self.update_incidents(finish=not stopped)
        finally:
            stream.close()
            if pool is not None:
                pool.close()
            if self.model is not None:
                self.model.save(self.model_dir)  # templates learned during the run
        s.seconds = time.perf_counter() - start
        s.templates = self.model.miner.n_templates if self.model else 0
        s.sessions_open = len(self.sessions) if self.sessions is not None else 0
        return s

    def _text_stages(self, batches: Iterator[RawBatch],
                     pool: TextPool | None) -> Generator[tuple[RawBatch, TextResult | None], None, None]:
        """Each batch with its text stages' result, or None where the main process is to do them: all of them
        without a pool, else the pool's first `after_lines` lines (the workers start half-way). The first
        batch is always read here: reading it fits the model when there is none, which is the main process's
        work."""
        seen = 0
        for raw in batches:
            if pool is not None and not seen and not pool.after_lines:
                yield from pool.map(chain([raw], batches))
                return
            yield raw, None
            seen += len(raw)
            if pool is not None and seen >= pool.after_lines // 2:
                pool.start()
            if pool is not None and seen >= pool.after_lines:
                yield from pool.map(batches)
                return

    def _timed_source(self, batches: Iterable[RawBatch]) -> Iterator[RawBatch]:
        """Time spent waiting for the source (reading files, polling and decoding Kafka), as stage `source`."""
        it = iter(batches)
        while True:
            t = time.perf_counter()
            raw = next(it, None)
            if raw is None:
                return
            self.health.beat()  # also while warming up on a quiet topic
            if len(raw) or raw.dead:  # a quiet poll is idle time, not work
                dt = time.perf_counter() - t
                self.summary.stage_seconds["source"] = self.summary.stage_seconds.get("source", 0.0) + dt
                STAGE_SECONDS.labels("source").observe(dt)
            yield raw

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self.registry.close()
        if self._dead_letters is not None:
            self._dead_letters.close()
        if self.alerts is not None:
            self.alerts.close()


def count_kinds(level: str, kinds: list[str], flagged: np.ndarray) -> None:
    """`logvec_anomaly_kinds_total`: each flagged item counted under each of its kinds."""
    at = np.flatnonzero(flagged)
    if len(at):
        for kind, n in Counter(k for i in at.tolist() for k in kinds[i].split(",") if k).items():
            ANOMALIES_BY_KIND.labels(level, kind).inc(n)


def count_services(services: list[str], flagged: np.ndarray) -> None:
    """`logvec_anomalies_by_service_total`: flagged records by service (a bounded label set)."""
    at = np.flatnonzero(flagged)
    if len(at):
        for service, n in Counter(SERVICE_LABELS(services[i] or "none") for i in at.tolist()).items():
            ANOMALIES_BY_SERVICE.labels(service).inc(n)


def small_matrices():
    """BLAS on one thread: a batch's matrices are small, and a second OpenBLAS thread mostly spins waiting
    for work, burning the core another worker could use."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def tune_gc() -> None:
    """For a process whose main job is `run`: a batch makes many short-lived objects, and the default
    thresholds start a collection every 700 of them, each walking the model's long-lived caches."""
    import gc

    gc.set_threshold(50_000, 20, 100)


def _untimed(stage: str, fn: Callable, *args):
    return fn(*args)


def prepare_batch(raw: RawBatch, text: TextStages, model: Model) -> tuple[RecordBatch, Vectors, list]:
    """The per-batch stages, shared by `logvec run` and `logvec eval`: redact → parse → mask → template →
    vectorize → detect. Returns the records (scores, flags and explanations filled in), their vectors, and
    the dead letters (the source's and the parser's)."""
    done = text.apply(raw)
    return done.records, model_stages(done.records, model), done.dead


def model_stages(records: RecordBatch, model: Model, timed: Callable = _untimed) -> Vectors:
    """The stages after the text ones, which hold the model's state and see batches in order: template →
    vectorize → detect. Fills in the records' templates, scores, flags and explanations; returns their
    vectors. `timed(stage, fn, *args)` wraps each stage (metrics)."""
    shapes, index = records.shapes()  # each distinct masked line templated and vectorized once
    records.template_ids = timed("template", model.miner.update, shapes)[index]
    model.follow_merges()
    records.templates = model.miner.templates(records.template_ids)
    distinct = timed("vectorize", model.vectorizer.transform_unique, shapes)
    vectors = Vectors(distinct.rows, distinct.index[index], shapes)  # a row per shape: shapes is unique
    det = timed("detect", model.detect_lines, records, vectors)
    records.scores, records.is_anomaly, records.reasons = det.scores, det.is_anomaly, det.reasons
    records.kinds = det.kinds
    records.explanations = det.explanations
    return vectors


def _dead_letter_topic(config: PipelineConfig) -> str | None:
    return config.source.dead_letter_topic if isinstance(config.source, KafkaSourceConfig) else None


def open_dead_letters(config: PipelineConfig, data_dir: Path) -> DeadLetterSink:
    """The Kafka dead-letter topic when the source names one, else DATA_DIR/dead-letters.jsonl."""
    topic = _dead_letter_topic(config)
    if topic and isinstance(config.source, KafkaSourceConfig):
        from logvec.sinks.kafka import KafkaDeadLetters

        return KafkaDeadLetters(config.source, topic)
    return DeadLetterFile(data_dir / "dead-letters.jsonl")


def dead_letter_place(config: PipelineConfig, data_dir: Path) -> str:
    """Where `open_dead_letters` writes, without opening it (no producer connects)."""
    topic = _dead_letter_topic(config)
    return f"Kafka topic {topic}" if topic else str(data_dir / "dead-letters.jsonl")


def reason_kind(reason: str) -> str:
    """A short, bounded label for a dead letter's reason (for metrics)."""
    import re

    return " ".join(re.sub(r"[^a-z ]", " ", reason.lower().split(":")[0]).split()[:3]) or "other"
