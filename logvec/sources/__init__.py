"""Sources yield `RawBatch`es and are told when a batch is stored (`commit`): files (globs, .gz, --follow),
stdin, and Kafka (`logvec.sources.kafka`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Protocol, runtime_checkable

from logvec.config import FileSourceConfig, PipelineConfig
from logvec.records import RawBatch
from logvec.sources.files import expand_paths, iter_file_batches, iter_stream_batches

__all__ = ["open_source", "iter_file_batches", "iter_stream_batches", "Source", "IteratorSource",
           "KafkaUnavailableError"]


class KafkaUnavailableError(RuntimeError):
    """No broker answered while a Kafka client started (kafka-python retried for its bootstrap timeout)."""


@runtime_checkable
class Source(Protocol):
    """Where raw lines come from. Iterating yields batches; `commit(batch)` is called once a batch is stored,
    so a source that can replay (Kafka) resumes after the last stored batch and never skips one."""

    def __iter__(self) -> Iterator[RawBatch]: ...

    def commit(self, batch: RawBatch) -> None: ...

    def close(self) -> None: ...


class IteratorSource:
    """Batches from an iterator; files and stdin have nothing to commit."""

    def __init__(self, batches: Iterator[RawBatch], size: int | None = None) -> None:
        self._batches = batches
        self.size = size  # bytes to read, when known (files read once): a run sizes its work by it

    def __iter__(self) -> Iterator[RawBatch]:
        return iter(self._batches)

    def commit(self, batch: RawBatch) -> None:
        pass

    def close(self) -> None:
        pass


def open_source(
    config: PipelineConfig,
    inputs: list[str] | None = None,
    follow: bool | None = None,
    idle_exit: float | None = None,
) -> Source:
    """The CLI's `--input` (`-` is stdin) when given, else the pipeline's `source`."""
    import sys

    if not inputs and config.source.type == "kafka":
        from logvec.sources.kafka import KafkaSource

        return KafkaSource(config.source, config.parse.max_line_size, idle_exit=idle_exit)
    return IteratorSource(*_batches(config, inputs, follow, idle_exit, sys.stdin.buffer))


def _batches(config: PipelineConfig, inputs: list[str] | None, follow: bool | None, idle_exit: float | None,
             stdin: BinaryIO) -> tuple[Iterator[RawBatch], int | None]:
    """The batches, and the bytes they will hold when that is known (files read once, not stdin or followed)."""
    batch_size = config.run.batch_size
    max_bytes = config.parse.max_line_size
    src = config.source
    if inputs:
        if inputs == ["-"]:
            return iter_stream_batches(stdin, "stdin", batch_size, max_bytes), None
        src = FileSourceConfig(paths=list(inputs), follow=bool(follow) if follow is not None else False)
    if src.type == "stdin":
        return iter_stream_batches(stdin, "stdin", batch_size, max_bytes), None
    if not isinstance(src, FileSourceConfig):
        raise ValueError(f"a {src.type} source is read by its own client, not as files")
    if not src.paths:
        raise ValueError("no input: give --input PATH (or - for stdin) or set source.paths in the pipeline")
    do_follow = src.follow if follow is None else follow
    size = None if do_follow else sum(p.stat().st_size for p in expand_paths(src.paths) if p.is_file())
    return iter_file_batches(src.paths, batch_size, max_bytes, follow=do_follow, poll_interval=src.poll_interval,
                             idle_exit=idle_exit), size
