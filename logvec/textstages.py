"""The text stages of a batch — redact → parse → mask — in this process, or ahead of it in worker processes.

They are per-line string work (regexes, one Aho-Corasick pass) that holds a core while it runs, needs no model
and keeps nothing across batches that a result depends on. The stages after them hold the run's state
(templates, vectors, detection, rate windows, the store) and must see batches one at a time, in order. So a
run over files or stdin hands the text stages of the next batches to `run.text_processes` worker processes
while the main process templates, scores and stores the current one: on a machine with a core to spare, the
text work no longer adds to the run's time. A Kafka worker keeps them in its own process: Kafka spreads a
topic over the cores with more members of the consumer group (`--workers`), each committing what it stored.

Each worker is a process of its own (`python -m logvec.textstages`), never a fork of the running one (it has
threads — the store's checkpointer, the metrics server — whose locks a fork would copy mid-use, and a fork
or spawn through `multiprocessing` runs the program's `__main__` again in every worker). Batch i goes to
worker i mod N over its stdin and comes back, pickled, over its stdout, so results come back in the order the
batches went out. A worker that dies (killed, out of memory) costs speed, not lines: its batches and all that
follow are done in the main process, with an error logged.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from logvec.config import PipelineConfig
from logvec.deadletter import DeadLetter
from logvec.masking import Masker
from logvec.metrics import REDACTIONS
from logvec.parse import Parser
from logvec.records import Coded, RawBatch, RecordBatch
from logvec.redact import Redactor
from logvec.sessionkeys import session_keys

# auto: this many worker processes at most (beyond it the main process, which stores, is the bottleneck)
AUTO_MAX_PROCESSES = 4
# A run of unknown length starts its workers once it has read half this many lines and hands them its text
# stages at this many: starting one costs about half a second of a core (its imports), which a short run would
# spend for nothing (the lines of a run of this size save more than that). A run that will read at least
# `POOL_AT_ONCE_BYTES` (files, read once) starts them at once and hands them every batch after the fit.
POOL_AFTER_LINES = 100_000
POOL_AT_ONCE_BYTES = 16 * 2**20
WORKER_NICENESS = 5  # the main process, which the workers' results wait on, keeps its core
PIPE_BYTES = 1 << 20  # a batch of 4096 lines pickles to about 600 kB
QUEUE_POLL_S = 0.1  # how often the reader, waiting for room, looks whether the run has stopped

log = logging.getLogger("logvec.textstages")


@dataclass
class TextResult:
    """One batch through the text stages: its records (masked), the dead letters (the source's and the
    parser's), and what the stages counted, to be added up where the metrics are served."""

    records: RecordBatch
    dead: list[DeadLetter]
    blank: int = 0  # blank lines skipped
    redactions: dict[str, int] = field(default_factory=dict)  # secrets replaced, by kind
    seconds: dict[str, float] = field(default_factory=dict)  # by stage


class TextStages:
    """redact → parse → mask for one batch (`apply`)."""

    def __init__(self, config: PipelineConfig) -> None:
        self.redactor = Redactor(config.redact)
        self.parser = Parser(config.parse, session_keys(config))
        self.masker = Masker(config.masking)

    def apply(self, raw: RawBatch) -> TextResult:
        blank, counts = self.parser.blank, dict(self.redactor.counts)
        t0 = time.perf_counter()
        raw = self.redactor.redact_batch(raw)
        t1 = time.perf_counter()
        records, dead = self.parser.parse(raw)
        t2 = time.perf_counter()
        records.masked = self.masker.mask(records.messages)
        seconds = {"redact": t1 - t0, "parse": t2 - t1, "mask": time.perf_counter() - t2}
        redactions = {k: n - counts.get(k, 0) for k, n in self.redactor.counts.items() if n != counts.get(k, 0)}
        return TextResult(records, raw.dead + dead, self.parser.blank - blank, redactions, seconds)


def resolve_processes(config: PipelineConfig) -> int:
    """`run.text_processes` as a number: `auto` is one a core (at most `AUTO_MAX_PROCESSES`) for files and stdin
    on a machine with more than one core, none for Kafka (see the module's docstring)."""
    wanted = config.run.text_processes
    if wanted != "auto":
        return int(wanted)
    if config.source.type == "kafka":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, AUTO_MAX_PROCESSES) if cores > 1 else 0


def _widen(pipe: object) -> None:
    """Give a pipe `PIPE_BYTES` of buffer where the system allows it (Linux; else it keeps its own)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)  # type: ignore[attr-defined]
    except (ImportError, OSError):
        pass


def _send(pipe: BinaryIO, obj: object) -> None:
    pipe.write(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))  # a pickle says where it ends
    pipe.flush()


class TextPool:
    """The text stages in `processes` worker processes (see the module's docstring).

    At most `processes + 1` batches are out at once: the workers stay busy while the main process stores,
    and a stop leaves few batches read but not processed."""

    def __init__(self, config: PipelineConfig, processes: int, after_lines: int | None = None) -> None:
        if processes < 1:
            raise ValueError(f"a text pool needs at least one process, not {processes}")
        self.config = config
        self.processes = processes
        self.after_lines = POOL_AFTER_LINES if after_lines is None else after_lines  # see POOL_AFTER_LINES
        self._workers: list[subprocess.Popen] = []
        self.broken: str | None = None  # why the workers were given up, once they were

    def sized(self, size: int | None) -> None:
        """A run that will read `size` bytes (None: unknown) starts its workers now, and hands them every
        batch, when that is `POOL_AT_ONCE_BYTES` or more."""
        if size is not None and size >= POOL_AT_ONCE_BYTES:
            self.start()
            self.after_lines = 0

    def start(self) -> None:
        """Start the workers: each imports its stages (half a second) while the main process goes on."""
        if self._workers:
            return
        for _ in range(self.processes):
            worker = subprocess.Popen([sys.executable, "-m", "logvec.textstages"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, start_new_session=True)
            for pipe in (worker.stdin, worker.stdout):  # room for whole batches: fewer wake-ups of each side
                _widen(pipe)
            _send(worker.stdin, self.config)  # type: ignore[arg-type]
            self._workers.append(worker)

    def map(self, batches: Iterable[RawBatch]) -> Iterator[tuple[RawBatch, TextResult | None]]:
        """Each batch with its result, in order; None for one the main process is to do (the workers are
        gone). A thread reads `batches` and hands them out, so that a batch whose result is back is processed
        at once, not after the source has filled the next (stdin blocks until a batch is full)."""
        self.start()
        out: queue.Queue = queue.Queue(maxsize=self.processes + 1)
        stop = threading.Event()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=QUEUE_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for n, raw in enumerate(batches):
                    worker = self._workers[n % self.processes]
                    sent = self.broken is None and bool(len(raw) or raw.dead)
                    if sent:
                        try:
                            _send(worker.stdin, raw)  # type: ignore[arg-type]
                        except (OSError, ValueError) as e:  # the worker is gone: it and the rest are done here
                            if stop.is_set():  # ... or the run stopped and closed its pipes
                                return
                            self._give_up(f"worker {worker.pid} took no more batches ({e})")
                            sent = False
                    if not put((raw, worker if sent else None)):
                        return
            except BaseException as e:  # noqa: BLE001 - handed to the main thread, raised there in order
                put(e)
                return
            put(None)

        reader = threading.Thread(target=read, name="logvec-text-reader", daemon=True)
        reader.start()
        try:
            while (item := out.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                raw, worker = item
                yield raw, self._result(worker) if worker is not None else None
        finally:
            stop.set()

    def _result(self, worker: subprocess.Popen) -> TextResult | None:
        if self.broken is not None:  # sent before the workers were given up: the main process does it
            return None
        try:
            kind, value = pickle.load(worker.stdout)  # type: ignore[arg-type]
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            self._give_up(f"worker {worker.pid} ended (exit status {worker.poll()}, {type(e).__name__})")
            return None
        if kind == "error":
            raise RuntimeError(f"the text stages failed in worker {worker.pid}:\n{value}")
        return value

    def _give_up(self, why: str) -> None:
        """No more batches to the workers: the main process does every one not back yet, and the workers still
        alive are stopped (their results would not be read)."""
        if self.broken is None:
            self.broken = why
            log.error("text-stage workers given up: %s; the run goes on in the main process, slower", why)
            for worker in self._workers:
                worker.kill()

    def close(self) -> None:
        """Stop the workers: the end of their input, and of their output (a worker blocked writing a result
        nobody will read — the run was stopped — gets a broken pipe instead of waiting)."""
        for worker in self._workers:
            for pipe in (worker.stdout, worker.stdin):  # output first: a worker blocked on it lets go of its input
                try:
                    pipe.close()  # type: ignore[union-attr]
                except (OSError, ValueError):  # a write into it failed (the worker is gone)
                    pass
        for worker in self._workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self._workers = []


def count_redactions(result: TextResult) -> None:
    """`logvec_redactions_total` for secrets a worker process replaced (its counters are not served)."""
    for kind, n in result.redactions.items():
        REDACTIONS.labels(kind).inc(n)


# ------------------------------------------------------------ the worker process
def _serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """Read the pipeline, then batches, from `stdin` until it ends; write each result (or the error that
    stopped it) to `stdout`."""
    import traceback

    stages = TextStages(pickle.load(stdin))
    while True:
        try:
            raw = pickle.load(stdin)
        except EOFError:  # the run is over
            return
        try:
            result = stages.apply(raw)
        except Exception:  # noqa: BLE001 - the main process raises it, with this traceback
            _send(stdout, ("error", traceback.format_exc()))
            continue
        records = result.records
        # worked out here, not in the main process: the codes of services and levels, the distinct masked lines
        records.services, records.levels = Coded(records.services), Coded(records.levels)
        shapes, index = records.shapes()
        records.masked = [shapes[i] for i in index.tolist()]
        try:
            _send(stdout, ("ok", result))
        except BrokenPipeError:  # the run stopped and will not read it
            return


if __name__ == "__main__":
    # a stop (Ctrl-C reaches the whole process group, SIGTERM may) is the main process's to handle: it
    # finishes its batch and closes our stdin
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)
    from logvec.textstages import _serve as serve  # results pickled as logvec.textstages', not __main__'s

    serve(sys.stdin.buffer, sys.stdout.buffer)
