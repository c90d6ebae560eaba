"""The `logvec` command line: run, search, stats, fit, validate."""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn logs into searchable vectors, flag anomalies, find similar past incidents.")
err = Console(stderr=True)
out = Console()


class Format(str, Enum):
    table = "table"
    json = "json"


PipelineOpt = typer.Option(..., "--pipeline", "-p", help="pipeline YAML file")
DataDirOpt = typer.Option(None, "--data-dir", "-d", help="model, store and dead letters (default: run.data_dir)")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)  # one line to grep
    raise typer.Exit(code)


def _load(pipeline: Path):
    import warnings

    from logvec.config import ConfigDeprecationWarning, ConfigError, load_pipeline

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigDeprecationWarning)
            config = load_pipeline(pipeline)
    except ConfigError as e:
        _fail(str(e))
    for w in caught:
        if issubclass(w.category, ConfigDeprecationWarning):  # one line each, without Python's source echo
            err.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return config


def _runner(pipeline: Path, data_dir: Optional[Path]):
    from logvec.model import ModelError
    from logvec.pipeline import Runner
    from logvec.registry import RegistryError
    from logvec.sources import KafkaUnavailableError

    config = _load(pipeline)
    try:
        runner = Runner(config, data_dir)
        runner.dead_letters  # noqa: B018 - a Kafka dead-letter producer connects now: a worker fails fast
        return runner
    except (ModelError, RegistryError) as e:
        _fail(str(e))
    except KafkaUnavailableError as e:
        _fail(str(e), code=1)


def _searcher(pipeline: Path, data_dir: Optional[Path], version: Optional[int] = None):
    """The read side: the store and the model registry, never Kafka."""
    from logvec.searcher import Searcher

    return Searcher(_load(pipeline), data_dir, version=version)


@app.command()
def validate(pipeline: Path = typer.Argument(..., help="pipeline YAML file")) -> None:
    """Check a pipeline file; errors name the key and the problem."""
    config = _load(pipeline)
    out.print(f"{pipeline}: ok (vectorizer {config.vectorizer.type}, detector {config.detector.type}, "
              f"store {config.store.type})", highlight=False)


@app.command()
def run(
    pipeline: Path = PipelineOpt,
    input: Optional[list[str]] = typer.Option(None, "--input", "-i", help="file, glob or - for stdin; repeatable"),
    data_dir: Optional[Path] = DataDirOpt,
    follow: bool = typer.Option(False, "--follow", "-f", help="keep reading the (last) file as it grows"),
    exit_when_idle: Optional[float] = typer.Option(
        None, help="--follow or Kafka: stop after this many seconds with nothing new (Kafka: counted while the group "
        "is stable and every assigned partition is read to its end)"),
    metrics_port: Optional[int] = typer.Option(
        None, help="serve Prometheus /metrics, /healthz and /readyz on this port (worker i of --workers: +i)"),
    workers: int = typer.Option(
        1, min=1, help="Kafka: this many worker processes in the group, sharing the data directory (one per core)"),
    worker_index: Optional[int] = typer.Option(None, hidden=True, help="set by --workers for each worker"),
    worker_barrier: Optional[Path] = typer.Option(None, hidden=True, help="set by --workers: join together"),
    format: Format = typer.Option(Format.table, "--format"),
    progress: Optional[bool] = typer.Option(None, help="progress bar (default: when stderr is a terminal)"),
) -> None:
    """Process logs: parse, mask, template, vectorize, detect, store. Fits on the first lines when needed."""
    if workers > 1:
        return _run_workers(pipeline, input, data_dir, exit_when_idle, metrics_port, workers, format)
    from logvec.errors import cannot_write
    from logvec.pipeline import dead_letter_place, tune_gc
    from logvec.sources import open_source

    import logging

    stop = {"now": False}

    def on_signal(signum, frame):  # finish the batch in hand, commit, then stop
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logging.basicConfig(level=os.environ.get("LOGVEC_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_gc()
    runner = _runner(pipeline, data_dir)
    source = runner.config.source
    if worker_index is not None and source.type == "kafka" and source.group_instance_id:
        source.group_instance_id = f"{source.group_instance_id}-{worker_index}"  # static members are unique
    if metrics_port is not None:
        from logvec.health import WORKER, serve

        WORKER.stall_timeout_s = runner.config.run.stall_timeout
        serve(metrics_port)
    if worker_barrier is not None and worker_index is not None and runner.model is not None:
        from logvec.workers import wait_for_siblings

        # (a fresh directory: one fits first, the rest wait)
        wait_for_siblings(worker_barrier, worker_index, give_up=lambda: stop["now"])

    def report(summary) -> None:
        _print_run(summary, runner.config.name, runner.data_dir, dead_letter_place(runner.config, runner.data_dir),
                   format)

    if stop["now"]:  # asked to stop while loading the model or waiting for the siblings: nothing read yet
        runner.close()
        report(runner.summary)
        return
    try:
        batches = open_source(runner.config, input, follow=follow or None, idle_exit=exit_when_idle)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    show = sys.stderr.isatty() if progress is None else progress
    try:
        summary = _run_batches(runner, batches, show, stop, report)
    except Exception as e:  # noqa: BLE001 - a full or failing disk is one line; anything else keeps its traceback
        why = cannot_write(e)
        if why is None:
            raise
        report(runner.summary)
        _fail(f"{why}: the run stopped; what was stored before it is kept (free space and run again)", code=1)
    report(summary)


def _run_batches(runner, batches, show: bool, stop: dict, report: Callable) -> Any:
    """The run's loop (with a progress bar when `show`); a server that ends it is one line and its exit code."""
    from logvec.sources import KafkaUnavailableError
    from logvec.store import StoreDimensionError
    from logvec.store.base import StoreUnavailableError

    try:
        if show:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task("starting")
                summary = runner.run(batches, on_batch=lambda s: bar.update(
                    task, description=f"{s.lines:,} lines  {s.lines_per_second:,.0f} lines/s  "
                                      f"{s.anomalies:,} anomalies"), should_stop=lambda: stop["now"],
                    commit=batches.commit)
        else:
            summary = runner.run(batches, should_stop=lambda: stop["now"], commit=batches.commit)
    except StoreDimensionError as e:
        _fail(str(e))
    except KafkaUnavailableError as e:
        _fail(str(e), code=1)
    except StoreUnavailableError as e:  # what was stored and committed before it, then why it stopped
        report(runner.summary)
        _fail(str(e), code=1)
    finally:
        batches.close()
        runner.close()
    return summary


def _run_workers(pipeline: Path, input: Optional[list[str]], data_dir: Optional[Path],
                 exit_when_idle: Optional[float], metrics_port: Optional[int], workers: int, format: Format) -> None:
    import shutil

    from logvec.pipeline import RunSummary, dead_letter_place
    from logvec.workers import new_barrier, run_workers, worker_argv

    config = _load(pipeline)
    if config.source.type != "kafka":
        _fail(f"--workers needs a Kafka source (this pipeline reads {config.source.type}): a file or stdin is "
              "read by one process; run one `logvec run` per input instead")
    if input:
        _fail("--input does not go with a Kafka source")
    barrier = new_barrier(workers)
    try:
        summaries, code = run_workers([worker_argv(pipeline, i, barrier, data_dir, exit_when_idle, metrics_port)
                                       for i in range(workers)])
    finally:
        shutil.rmtree(barrier, ignore_errors=True)
    data = Path(data_dir or config.run.data_dir)
    if summaries:
        _print_run(RunSummary.merge(summaries), config.name, data, dead_letter_place(config, data), format,
                   workers=summaries)
    if code:
        _fail(f"a worker exited with status {code} (the others were stopped)", code=code)


def _print_run(summary, name: str, data_dir: Path, dead_letters: str, format: Format,
               workers: list[dict] | None = None) -> None:
    """`workers`: each worker's own summary, when several ran."""
    if format == Format.json:
        print(json.dumps({**summary.to_dict(), **({"workers": len(workers), "each": workers} if workers else {})}))
        return
    t = Table(title=f"logvec run — {name}", show_header=False)
    rows = [("lines", f"{summary.lines:,}"), ("records stored", f"{summary.records:,}"),
            ("templates", f"{summary.templates:,}"), ("anomalies", f"{summary.anomalies:,}"),
            ("incidents", f"{summary.incidents:,}"), ("dead letters", f"{summary.dead_letters:,}"),
            ("blank lines skipped", f"{summary.blank:,}"),
            ("lines/s", f"{summary.lines_per_second:,.0f}"), ("seconds", f"{summary.seconds:.2f}"),
            ("model", "fitted on this input" if summary.fitted else "loaded"),
            ("data dir", str(data_dir))]
    if workers:
        rows.append(("workers", ", ".join(f"{w['records']:,} records" for w in workers)))
    if summary.dead_letters:
        rows.append(("dead letters in", dead_letters))
    if summary.suppressed:
        rows.append(("not flagged (marked normal)", f"{summary.suppressed:,}"))
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)


@app.command()
def fit(
    pipeline: Path = PipelineOpt,
    input: Optional[list[str]] = typer.Option(
        None, "--input", "-i", help="baseline logs: file, glob or - (a Kafka pipeline without it: the topic's first "
                                    "run.warmup_lines lines, read as consumer group GROUP-fit, never committed)"),
    data_dir: Optional[Path] = DataDirOpt,
    idle: float = typer.Option(10.0, "--idle", help="Kafka: stop reading once the topic is quiet this long"),
    activate: Optional[bool] = typer.Option(
        None, "--activate/--no-activate",
        help="make the new version the active one (default: only when no version is active yet)"),
) -> None:
    """Fit the model (templates, vectorizer, detector) on baseline logs and publish it to the model registry
    (DATA_DIR/models, or OpenSearch with an OpenSearch store) as a new version."""
    from logvec.pipeline import Runner
    from logvec.sources import open_source
    from logvec.store.base import StoreDimensionError, StoreModelError

    config = _load(pipeline)
    if not input and config.source.type != "kafka":
        _fail("give the baseline with --input (a file, a glob or -)")
    runner = Runner(config, data_dir, load_model=False)
    try:
        batches = list(open_source(config, input)) if input else _kafka_warmup(config, idle)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if not any(len(b) for b in batches):
        _fail("the baseline is empty: nothing to fit on")
    try:
        model = runner.fit(batches, activate_it=activate)
    except (StoreModelError, StoreDimensionError) as e:
        _fail(f"published, not activated: {e}")
    finally:
        runner.close()
    active = runner.model is model
    out.print(f"model version {model.version} ({model.model_id}) published in {runner.registry.describe()}"
              f"{' and active' if active else f'; not active (logvec model activate {model.version})'}: "
              f"{model.meta['baseline_lines']:,} baseline records, {model.meta['templates']:,} templates, "
              f"{model.meta['dim']}-dim {model.meta['vectorizer']} vectors", highlight=False, soft_wrap=True)


def _kafka_warmup(config, idle: float) -> list:
    """The topic's first `run.warmup_lines` lines (or fewer, once it is quiet for `idle` seconds), read as a
    consumer group of their own that commits nothing: the workers' group still reads everything."""
    from logvec.sources import KafkaUnavailableError
    from logvec.sources.kafka import KafkaSource

    src = config.source.model_copy(update={"group_id": f"{config.source.group_id}-fit", "group_instance_id": None})
    source = KafkaSource(src, config.parse.max_line_size, idle_exit=idle)
    held, n = [], 0
    try:
        for raw in source:
            if len(raw):
                held.append(raw)
                n += len(raw)
            if n >= config.run.warmup_lines:
                break
    except KafkaUnavailableError as e:
        _fail(str(e), code=1)
    finally:
        source.close()
    return held


def _filters(service, level, since, until, anomalies):
    from logvec.store import SearchFilters
    from logvec.timeparse import parse_time_arg

    try:
        return SearchFilters(service=service, level=level,
                             since=parse_time_arg(since) if since else None,
                             until=parse_time_arg(until) if until else None, anomalies_only=anomalies)
    except ValueError as e:
        _fail(str(e))


@app.command()
def search(
    query: str = typer.Argument(..., help="a log line or message to find the like of"),
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    k: int = typer.Option(10, "-k", min=1, help="how many hits"),
    service: Optional[str] = typer.Option(None, "--service"),
    level: Optional[str] = typer.Option(None, "--level"),
    since: Optional[str] = typer.Option(None, "--since", help="ISO time, epoch, or 2h/7d ago"),
    until: Optional[str] = typer.Option(None, "--until"),
    anomalies: bool = typer.Option(False, "--anomalies", help="only records flagged anomalous"),
    version: Optional[int] = typer.Option(None, "--model-version",
                                          help="search the vectors of this model version (default: the active)"),
    format: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Find the stored records most similar to QUERY (cosine similarity, best first)."""
    from logvec.model import ModelError
    from logvec.registry import RegistryError
    from logvec.store.base import StoreCorruptError, StoreDimensionError, StoreModelError

    searcher = _searcher(pipeline, data_dir, version)
    try:
        hits = searcher.search(query, k=k, filters=_filters(service, level, since, until, anomalies))
    except (ModelError, RegistryError, StoreModelError, StoreDimensionError) as e:
        _fail(str(e))
    except StoreCorruptError as e:
        _fail(str(e), code=1)
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return
    t = Table(title=f"{len(hits)} hits", expand=True)
    t.add_column("score", no_wrap=True)
    t.add_column("timestamp", no_wrap=True)
    t.add_column("service", overflow="fold", ratio=1)
    t.add_column("message", overflow="fold", ratio=4)
    t.add_column("why flagged", overflow="fold", ratio=2)
    for h in hits:
        t.add_row(f"{h.score:.3f}", h.timestamp or "", h.service, h.message, h.reason)
    out.print(t)


@app.command()
def stats(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    format: Format = typer.Option(Format.table, "--format"),
) -> None:
    """What the store holds: records, templates, anomalies; and what is wrong with it, if anything. Dead letters
    in a Kafka topic are not counted here (unknown; the workers' logvec_dead_letters_total counts them)."""
    from logvec.model import ModelError
    from logvec.registry import RegistryError

    searcher = _searcher(pipeline, data_dir)
    try:
        s = searcher.stats()
    except (ModelError, RegistryError) as e:
        _fail(str(e))
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps(s))
    else:
        model = s.get("model") or {}
        s["model"] = f"version {model.get('version')} ({model.get('model_id')})" if model.get("model_id") else (
            "unpublished" if model else "none")
        if s["dead_letters"] is None:
            s["dead_letters"] = f"unknown (in {s['dead_letters_in']})"
        t = Table(show_header=False)
        for key in ("records", "redeliveries", "templates", "anomalies", "sessions", "session_anomalies",
                    "rate_events", "distinct_vectors", "dim", "model", "dead_letters", "path"):
            if key in s:
                t.add_row(key, str(s[key]))
        out.print(t)
    for problem in s.get("problems", []):
        err.print(f"[bold red]damaged:[/] {problem}", highlight=False, soft_wrap=True)
    if s.get("problems"):
        raise typer.Exit(1)


@app.command()
def doctor(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
) -> None:
    """Check a data directory: the model loads, the store's files agree (SQLite integrity, the vector file
    against its table, every vector of unit length), the dead letters read. Exit 1 when anything is wrong."""
    from logvec.deadletter import DeadLetterFile
    from logvec.model import Model, ModelError
    from logvec.pipeline import Runner
    from logvec.registry import RegistryError

    config = _load(pipeline)
    runner = Runner(config, data_dir, load_model=False)
    problems: list[str] = []
    try:
        if runner.registry.active() is not None or not Model.exists(runner.model_dir):
            runner.registry.load(None, config)  # the published version: what search and other workers load
    except (ModelError, RegistryError) as e:
        problems.append(str(e))
    if Model.exists(runner.model_dir):
        try:
            Model.load(runner.model_dir, config)  # this worker's copy: what it resumes with
        except ModelError as e:
            problems.append(f"{e} (the worker's working copy: it restarts from the published version, "
                            "without the templates it learned since)")
    try:
        check = getattr(runner.store, "problems", None)
        problems += check(thorough=True) if check is not None else []
    finally:
        runner.close()
    letters = DeadLetterFile(runner.data_dir / "dead-letters.jsonl")
    if letters.path.exists():
        torn = [d for d in letters.read() if "torn write" in d.reason]
        if torn:
            problems.append(f"{letters.path}: {len(torn)} dead-letter lines were cut short "
                            f"(first at {torn[0].origin}); the rest read")
    for problem in problems:
        err.print(f"[bold red]problem:[/] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    out.print(f"{runner.data_dir}: model, store and dead letters are sound", highlight=False)


@app.command()
def sessions(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    anomalies: bool = typer.Option(False, "--anomalies", help="only sessions flagged anomalous"),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    format: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Scored sessions, most anomalous first, with the reason for each flagged one."""
    searcher = _searcher(pipeline, data_dir)
    try:
        rows = searcher.store.sessions(anomalies_only=anomalies, limit=limit)
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    t = Table(title=f"{len(rows)} sessions", expand=True)
    t.add_column("key", overflow="fold", ratio=1)
    t.add_column("lines", justify="right")
    t.add_column("score", justify="right")
    t.add_column("why flagged", overflow="fold", ratio=4)
    for r in rows:
        t.add_row(r["key"], str(r["lines"]), f"{r['anomaly_score']:.3g}", r["reason"] if r["is_anomaly"] else "")
    out.print(t)


@app.command()
def incidents(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    since: Optional[str] = typer.Option(None, "--since", help="ISO time, epoch, or 2h/7d ago"),
    until: Optional[str] = typer.Option(None, "--until"),
    similar: Optional[str] = typer.Option(None, "--similar", metavar="ID", help="past incidents like this one"),
    similar_to: Optional[str] = typer.Option(
        None, "--similar-to", metavar="FILE", help="past incidents like these lines (a file, or - for stdin)"),
    rebuild: bool = typer.Option(False, "--rebuild", help="group every stored anomaly into incidents again"),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    min_anomalies: Optional[int] = typer.Option(
        None, "--min-anomalies", min=1, help="list incidents of at least this many anomalies (default: the "
        "pipeline's incidents.min_anomalies)"),
    format: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Anomalies grouped into incidents, the latest first; with --similar or --similar-to, the past incidents most
    like one (best first, with what they share)."""
    from logvec.incidents.signature import why
    from logvec.model import ModelError
    from logvec.registry import RegistryError

    window = _filters(None, None, since, until, False)
    searcher = _searcher(pipeline, data_dir)
    scored: list[tuple[Any, float | None]] = []
    title = ""
    try:
        if rebuild:
            built = searcher.rebuild_incidents()
            err.print(f"rebuilt {len(built)} incidents from the anomalies in the store")
        if similar or similar_to:
            if similar:
                target = searcher.incident(similar)
                if target is None:
                    _fail(f"no incident {similar!r} (logvec incidents lists them)")
            else:
                text = sys.stdin.read() if similar_to == "-" else _read_text(str(similar_to))
                try:
                    target = searcher.incident_of_lines(text.splitlines())
                except ValueError as e:
                    _fail(str(e))
            found = searcher.similar_incidents(target, k=limit, past_only=similar is not None)
            scored = [(i, score) for i, score in found]
            title = f"{len(found)} past incidents like {target.id}" + ("" if found else " (no close match)")
        else:
            scored = [(i, None) for i in searcher.incidents(window.since, window.until, limit, min_anomalies)]
            title = f"{len(scored)} incidents"
    except (ModelError, RegistryError) as e:
        _fail(str(e))
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps([i.to_dict(score, why(target, i) if score is not None else None)
                          for i, score in scored] if (similar or similar_to) else [i.to_dict() for i, _ in scored],
                         ensure_ascii=False))
        return
    t = Table(title=title, expand=True)
    if similar or similar_to:
        t.add_column("score", no_wrap=True)
    for name in ("id", "start (UTC)", "min", "status"):
        t.add_column(name, no_wrap=True)
    t.add_column("summary", overflow="fold", ratio=1)
    for i, score in scored:
        row = [i.id, _utc(i.start), f"{(i.end - i.start) / 60:.0f}", i.status, i.summary]
        t.add_row(*([f"{score:.3f}"] if score is not None else []), *row)
    out.print(t)


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        _fail(f"{path}: {e.strerror or e}")
    return ""


@app.command()
def reference() -> None:
    """Print the pipeline reference (Markdown) generated from the schema: every key, its type, default,
    bounds and description. docs/reference/pipeline.md is this output."""
    from logvec.reference import pipeline_reference

    sys.stdout.write(pipeline_reference())


class RateKind(str, Enum):
    storm = "storm"
    drop = "drop"


@app.command()
def events(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    kind: Optional[RateKind] = typer.Option(None, "--kind", help="only storms or only drops"),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    format: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Rate events, latest first: a known template far more often than the baseline (storm) or a frequent one
    gone quiet (drop), per service and window."""
    searcher = _searcher(pipeline, data_dir)
    try:
        rows = searcher.store.rate_events(kind=kind.value if kind else None, limit=limit)
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    t = Table(title=f"{len(rows)} rate events", expand=True)
    for name, ratio in (("window (UTC)", 1), ("kind", 0), ("service", 1), ("template", 4)):
        t.add_column(name, overflow="fold", ratio=ratio or None)
    t.add_column("observed", justify="right")
    t.add_column("expected", justify="right")
    for r in rows:
        t.add_row(_utc(r["window_start"]), r["kind"], r["service"] or "", r["template"] or "", str(r["observed"]),
                  f"{r['expected']:.3g}")
    out.print(t)


@app.command("eval")
def eval_(
    pipelines: Optional[list[Path]] = typer.Argument(None, help="with --compare: the pipelines to compare"),
    pipeline: Optional[Path] = typer.Option(None, "--pipeline", "-p", help="pipeline YAML file"),
    compare: bool = typer.Option(False, "--compare", help="evaluate every PIPELINE given as an argument"),
    train: list[str] = typer.Option(..., "--train", help="baseline logs (unlabeled; may hold anomalies)"),
    test: list[str] = typer.Option(..., "--test", help="logs to score"),
    labels: Path = typer.Option(..., "--labels", help="CSV: line,label (line level) or key,label (session level)"),
    session_key: Optional[str] = typer.Option(None, "--session-key", help="regex; its first group is the session key"),
    format: Format = typer.Option(Format.table, "--format"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="write report.md, scores.csv, pr_curve.png here"),
) -> None:
    """Fit on TRAIN, score TEST and measure precision, recall and F1 against LABELS."""
    from logvec.config import ConfigError
    from logvec.evaluate import LabelError, evaluate, write_report

    paths = list(pipelines or []) if compare else ([pipeline] if pipeline else [])
    if not paths:
        _fail("give --pipeline FILE, or --compare FILE FILE ...")
    if not compare and pipelines:
        _fail(f"unexpected arguments {', '.join(map(str, pipelines))} (did you mean --compare?)")
    results = []
    for path in paths:
        config = _load(path)
        try:
            result = evaluate(config, train, test, labels, session_key=session_key, pipeline_name=path.stem)
        except (LabelError, ConfigError, FileNotFoundError, OSError) as e:
            _fail(str(e))
        results.append(result)
        if out_dir is not None:
            write_report(result, out_dir / path.stem if compare else out_dir)
    if format == Format.json:
        docs = [r.to_dict() for r in results]
        print(json.dumps(docs if compare else docs[0]))
        return
    t = Table(title=f"logvec eval — {results[0].level} level")
    cols = ["pipeline", "precision", "recall", "f1", "tp", "fp", "fn", "tn", "threshold", "lines/s"]
    for c in cols:
        t.add_column(c, justify="left" if c == "pipeline" else "right")
    for r in results:
        t.add_row(r.pipeline, f"{r.precision:.4f}", f"{r.recall:.4f}", f"{r.f1:.4f}", str(r.tp), str(r.fp),
                  str(r.fn), str(r.tn), f"{r.threshold:.4g}", f"{r.lines_per_second:,.0f}")
    out.print(t)
    if out_dir is not None:
        out.print(f"report written to {out_dir}", highlight=False)


@app.command()
def serve(
    pipeline: Path = PipelineOpt,
    data_dir: Optional[Path] = DataDirOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind; beyond loopback it needs authentication"),
    port: int = typer.Option(8080, "--port"),
    token_file: Optional[Path] = typer.Option(
        None, "--token-file", envvar="LOGVEC_API_TOKEN_FILE",
        help="bearer tokens, one NAME:TOKEN a line (LOGVEC_API_TOKEN holds a single one)"),
    auth_header: Optional[str] = typer.Option(
        None, "--auth-header", envvar="LOGVEC_API_AUTH_HEADER",
        help="trust this header as the user an authenticating proxy in front has checked (e.g. X-Forwarded-User)"),
    allowed_host: list[str] = typer.Option(
        [], "--allowed-host", help="a Host name clients use (repeat; `*.example.com`, `*`); loopback names always; "
                                   "LOGVEC_API_ALLOWED_HOSTS takes a comma-separated list"),
    insecure_no_auth: bool = typer.Option(False, "--insecure-no-auth",
                                          help="serve beyond loopback with no authentication (trusted networks)"),
) -> None:
    """HTTP API and search page: /api/search, /api/stats, /api/sessions, /healthz, /readyz, /metrics, /.

    /api needs a bearer token (LOGVEC_API_TOKEN, --token-file) or an authenticating proxy's header
    (--auth-header); on 127.0.0.1 with neither it is open to local users. Exit 2 when binding beyond loopback
    with no authentication and no --insecure-no-auth."""
    import logging

    import uvicorn

    from logvec.access import AccessError, AccessPolicy
    from logvec.api import create_app

    try:
        access = AccessPolicy.from_environment(host, token_file, auth_header, allowed_host, insecure_no_auth)
    except AccessError as e:
        _fail(str(e))
    logging.basicConfig(level=os.environ.get("LOGVEC_LOG_LEVEL", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("logvec.access").setLevel(logging.INFO)  # one line a request, the query left out
    if access.open:
        err.print(f"[yellow]warning:[/] /api on {host}:{port} is open to anyone who can reach it "
                  "(no LOGVEC_API_TOKEN, --token-file or --auth-header)", highlight=False, soft_wrap=True)
    # a missing or unusable model is not fatal: /readyz says why, and a model fitted later is picked up
    uvicorn.run(create_app(_load(pipeline), data_dir, access), host=host, port=port, log_level="warning",
                access_log=False)


model_app = typer.Typer(help="Model versions in the registry: list, show, activate.", no_args_is_help=True)
app.add_typer(model_app, name="model")


def _registry(pipeline: Path, data_dir: Optional[Path]):
    from logvec.registry import open_registry

    config = _load(pipeline)
    return config, open_registry(config, Path(data_dir or config.run.data_dir), patient=False)


@model_app.command("list")
def model_list(pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt,
               format: Format = typer.Option(Format.table, "--format")) -> None:
    """Every published version, oldest first; the active one marked."""
    _, registry = _registry(pipeline, data_dir)
    try:
        versions = registry.versions()
    finally:
        registry.close()
    if format == Format.json:
        print(json.dumps([v.to_dict() for v in versions]))
        return
    t = Table(title=f"model versions in {registry.describe()}")
    for name in ("version", "active", "model id", "published", "vectorizer", "dim", "baseline lines", "by"):
        t.add_column(name)
    for v in versions:
        m = v.meta
        t.add_row(str(v.version), "*" if v.active else "", v.model_id, v.created, str(m.get("vectorizer", "")),
                  str(m.get("dim", "")), f"{m.get('baseline_lines', 0):,}", str(m.get("published_by", "")))
    out.print(t)


@model_app.command("show")
def model_show(version: Optional[int] = typer.Argument(None, help="default: the active version"),
               pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """One version's metadata as JSON."""
    _, registry = _registry(pipeline, data_dir)
    try:
        versions = {v.version: v for v in registry.versions()}
    finally:
        registry.close()
    if version is None:
        version = next((v.version for v in versions.values() if v.active), None)
        if version is None:
            _fail(f"no active version in {registry.describe()}")
    if version not in versions:
        _fail(f"no version {version} in {registry.describe()} (logvec model list)")
    print(json.dumps(versions[version].to_dict(), indent=2))


@model_app.command("activate")
def model_activate(version: int = typer.Argument(..., help="the version to make active"),
                   pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Make VERSION the fleet's model: the store gets it ready (OpenSearch: its index, the alias moves), then
    running workers switch to it at their next look (registry.poll_interval) and search uses it."""
    from logvec.registry import RegistryError, activate, who
    from logvec.store import open_store
    from logvec.store.base import StoreDimensionError, StoreModelError

    config, registry = _registry(pipeline, data_dir)
    store = open_store(config.store, Path(data_dir or config.run.data_dir))
    try:
        v = activate(registry, store, version, by=who())
    except (RegistryError, StoreModelError, StoreDimensionError) as e:
        _fail(str(e))
    finally:
        store.close()
        registry.close()
    out.print(f"version {v.version} ({v.model_id}) is active in {registry.describe()}", highlight=False)


feedback_app = typer.Typer(help="Tell logvec back: an incident resolved, a template normal.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("resolve")
def feedback_resolve(incident: str = typer.Argument(..., help="the incident's id"),
                     note: str = typer.Option("", "--note", help="what it was, what fixed it"),
                     pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Mark an incident resolved, with a note (recorded with who and when)."""
    from logvec.registry import who

    searcher = _searcher(pipeline, data_dir)
    try:
        inc = searcher.resolve(incident, note, by=who(with_pid=False))
    except KeyError:
        _fail(f"no incident {incident!r} (logvec incidents lists them)")
    finally:
        searcher.close()
    err.print(f"incident {inc.id} resolved")


@feedback_app.command("normal")
def feedback_normal(
    incident: Optional[str] = typer.Option(None, "--incident", help="mark each of this incident's top templates"),
    template: Optional[str] = typer.Option(None, "--template", help="a template's text, as incidents show it"),
    service: Optional[str] = typer.Option(None, "--service", help="only in this service (default: in every one)"),
    expires: Optional[str] = typer.Option(None, "--expires", help="for this long (7d, 12h; default: for good)"),
    note: str = typer.Option("", "--note", help="why it is normal"),
    pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt,
) -> None:
    """Mark templates normal: no longer flagged or alerted on from now on, and learned as normal at the next fit."""
    import time

    from logvec.config import parse_duration
    from logvec.registry import who

    if bool(incident) == bool(template):
        _fail("give one of --incident ID or --template TEXT")
    try:
        until = time.time() + parse_duration(expires) if expires else None
    except ValueError as e:
        _fail(f"--expires: {e}")
    searcher = _searcher(pipeline, data_dir)
    try:
        marks = searcher.mark_normal(who(with_pid=False), template=template, incident_id=incident,
                                     service=service, until=until, note=note)
    except KeyError:
        _fail(f"no incident {incident!r} (logvec incidents lists them)")
    finally:
        searcher.close()
    for m in marks:
        err.print(f"marked normal{' in ' + m.service if m.service else ''}"
                  f"{' until ' + _utc(m.until) if m.until else ''}: {m.template}  (key {m.key})")


@feedback_app.command("list")
def feedback_list(pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt,
                  format: Format = typer.Option(Format.table, "--format")) -> None:
    """Templates marked normal: by whom, when, until when."""
    searcher = _searcher(pipeline, data_dir)
    try:
        marks = searcher.store.feedback()
    finally:
        searcher.close()
    if format == Format.json:
        print(json.dumps([m.to_dict() for m in marks], ensure_ascii=False))
        return
    t = Table(title=f"{len(marks)} templates marked normal", expand=True)
    t.add_column("key", no_wrap=True)
    t.add_column("template", overflow="fold", ratio=3)
    for name in ("service", "until (UTC)", "by, when (UTC)"):
        t.add_column(name, overflow="fold", ratio=1)
    for m in marks:
        t.add_row(m.key, m.template, m.service or "any", _utc(m.until) if m.until else "for good",
                  f"{m.by}, {_utc(m.at)}" + (f": {m.note}" if m.note else ""))
    out.print(t)


@feedback_app.command("unmark")
def feedback_unmark(key: str = typer.Argument(..., help="the mark's key (logvec feedback list)"),
                    pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt) -> None:
    """Take a normal mark back: the template is judged again."""
    searcher = _searcher(pipeline, data_dir)
    try:
        if not searcher.unmark(key):
            _fail(f"no mark {key!r} (logvec feedback list)")
    finally:
        searcher.close()


index_app = typer.Typer(help="OpenSearch index lifecycle (store.type: opensearch).", no_args_is_help=True)
app.add_typer(index_app, name="index")


def _opensearch(pipeline: Path):
    config = _load(pipeline)
    if config.store.type != "opensearch":
        _fail(f"{pipeline}: store.type is {config.store.type}, not opensearch")
    from logvec.store.opensearch import OpenSearchStore

    return config, OpenSearchStore(config.store)


@index_app.command("create")
def index_create(pipeline: Path = PipelineOpt, data_dir: Optional[Path] = DataDirOpt,
                 dim: Optional[int] = typer.Option(None, "--dim",
                                                   help="default: the fitted model's dimension")) -> None:
    """Create the k-NN index of the active model version and point the alias at it (with --dim and no model:
    an index for that dimension)."""
    from logvec.registry import open_registry

    config, store = _opensearch(pipeline)
    registry = open_registry(config, Path(data_dir or config.run.data_dir))
    active = registry.active()
    if active is not None:
        name = store.activate_model(active.model_id, int(active.meta["dim"]))
    elif dim is not None:
        name = store.ensure_index(dim)
    else:
        _fail(f"no active model in {registry.describe()}: give --dim or fit first")
    out.print(f"index {name} ready behind alias {config.store.index}", highlight=False)


@index_app.command("info")
def index_info(pipeline: Path = PipelineOpt) -> None:
    """The alias, the index behind it, its dimension, k-NN method and document count."""
    _, store = _opensearch(pipeline)
    print(json.dumps(store.info()))


@index_app.command("delete")
def index_delete(pipeline: Path = PipelineOpt, yes: bool = typer.Option(False, "--yes", help="do not ask")) -> None:
    """Delete the records' indices (every model version's), the sessions and the rate events; the published
    models stay."""
    from logvec.registry import open_registry

    config, store = _opensearch(pipeline)
    if not yes and not typer.confirm(f"delete the indices behind {store.config.index}?"):
        raise typer.Exit(1)
    registry = open_registry(config, Path(config.run.data_dir))
    model_ids = [v.model_id for v in registry.versions()]
    out.print(f"deleted: {', '.join(store.delete(model_ids)) or 'nothing'}", highlight=False)


def main() -> None:
    """The `logvec` command. A server that does not answer (after its retries), or a disk that takes no more, is
    one line and exit 1, in every command; a bug still shows its traceback."""
    from logvec.errors import cannot_write
    from logvec.store.base import StoreUnavailableError

    # what logvec writes (records, vectors, the model, dead letters) holds log contents: the owner's alone
    os.umask(0o077)
    try:
        app()
    except StoreUnavailableError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - a full or failing disk is one line; anything else keeps its traceback
        why = cannot_write(e)
        if why is None:
            raise
        err.print(f"[bold red]error:[/] {why}", highlight=False, soft_wrap=True)
        sys.exit(1)
