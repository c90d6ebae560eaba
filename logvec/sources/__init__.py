"""Sources yield `RawBatch`es: files (globs, .gz, --follow) and stdin here; Kafka joins in its own module."""

from __future__ import annotations

from collections.abc import Iterator

from logvec.config import FileSourceConfig, PipelineConfig
from logvec.records import RawBatch
from logvec.sources.files import iter_file_batches, iter_stream_batches

__all__ = ["open_source", "iter_file_batches", "iter_stream_batches"]


def open_source(
    config: PipelineConfig,
    inputs: list[str] | None = None,
    follow: bool | None = None,
    idle_exit: float | None = None,
) -> Iterator[RawBatch]:
    """Batches from the CLI's `--input` (`-` is stdin) when given, else from the pipeline's `source`."""
    import sys

    batch_size = config.run.batch_size
    max_bytes = config.parse.max_line_bytes
    src = config.source
    if inputs:
        if inputs == ["-"]:
            return iter_stream_batches(sys.stdin.buffer, "stdin", batch_size, max_bytes)
        src = FileSourceConfig(paths=list(inputs), follow=bool(follow) if follow is not None else False)
    if src.type == "stdin":
        return iter_stream_batches(sys.stdin.buffer, "stdin", batch_size, max_bytes)
    if not src.paths:
        raise ValueError("no input: give --input PATH (or - for stdin) or set source.paths in the pipeline")
    do_follow = src.follow if follow is None else follow
    return iter_file_batches(src.paths, batch_size, max_bytes, follow=do_follow,
                             poll_interval=src.poll_interval, idle_exit=idle_exit)
