"""What the worker needs of kafka-python's group coordinator beyond its public API, in one place: whether
the member has been told to rejoin, and applying a group join that finished between two polls.

kafka-python 3.0.12 runs each JoinGroup → SyncGroup round as a task on its IO thread and awaits it inside
`poll()`. A poll that times out leaves the task running so that the next poll awaits it again, but the
next poll starts a new task when it finds the old one already finished (`_join_task.is_done`), and the
finished task's assignment is never applied. The new JoinGroup then rebalances the whole group again. A
member that does work between polls is the one this hits: a consumer that polls with timeout 0 and works
300 ms between polls sent 98 JoinGroups in 30 s on noida-db and never got a partition, and on Tansu, which
answers a join after 5 s, a `--workers 2` member sometimes started 5 s late.

The Java client applies a finished join's result whenever it finds one. This does the same: when the
library is about to look at a finished task, the task is shown to it as still in flight, so the library
awaits it and gets its result (or its error) at once, through its own code path.
"""

from __future__ import annotations

import logging

log = logging.getLogger("logvec.kafka")


def told_to_rejoin(consumer) -> bool:
    """Whether the member has been told to rejoin: a heartbeat that saw a rebalance says so while the member's
    state still reads stable. A kafka-python without this flag is taken at its state alone."""
    need_rejoin = getattr(getattr(consumer, "_coordinator", None), "need_rejoin", None)
    return bool(need_rejoin()) if callable(need_rejoin) else False


class _FinishedJoin:
    """A finished join future that reads as not done: awaiting it, or adding callbacks, gives its result."""

    is_done = False

    def __init__(self, future) -> None:
        self.future = future

    def add_callback(self, f, *args, **kwargs):
        return self.future.add_callback(f, *args, **kwargs)

    def add_errback(self, f, *args, **kwargs):
        return self.future.add_errback(f, *args, **kwargs)

    def __await__(self):
        return self.future.__await__()


def keep_finished_joins(consumer) -> None:
    """Make `consumer` apply a join that finished while it was not polling. A kafka-python without these
    internals is left alone (a debug line says so)."""
    coordinator = getattr(consumer, "_coordinator", None)
    join = getattr(coordinator, "join_group_async", None)
    internals = ("join_group_async", "_join_task", "need_rejoin")
    if coordinator is None or join is None or not all(hasattr(coordinator, a) for a in internals):
        log.debug("kafka-python has no join task to watch; finished joins are left to the library")
        return

    async def join_group_async(*args, **kwargs):
        task = coordinator._join_task
        if task is not None and getattr(task, "is_done", False) and coordinator.need_rejoin():
            coordinator._join_task = _FinishedJoin(task)
        return await join(*args, **kwargs)

    coordinator.join_group_async = join_group_async
