"""`--exit-when-idle` on a Kafka source: when a group member may stop (logvec.sources.kafka.IdleTimer).

The timelines are the ones seen on the test brokers: Tansu takes seconds to form a group and, now and then,
several 3 s rounds to finish a rebalance, during which kafka-python still reports the old assignment."""

from __future__ import annotations

import logging

from logvec.sources.kafka import IdleTimer

IDLE, SETTLE = 6.0, 26.0


def replay(timer: IdleTimer, events: list[tuple[float, str]]) -> float | None:
    """Feed (time, 'data' | 'settled' | 'unsettled') events; the time it says stop, or None."""
    for now, event in events:
        if event == "data":
            timer.data(now)
        elif timer.expired(now, event == "settled"):
            return now
    return None


def ticks(start: float, stop: float, event: str, step: float = 0.5) -> list[tuple[float, str]]:
    return [(start + i * step, event) for i in range(int((stop - start) / step))]


def test_a_member_that_settled_stops_after_the_idle_time():
    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    events = ticks(0, 2, "unsettled") + [(2.0, "data"), (2.5, "data")] + ticks(3, 20, "settled")
    assert replay(timer, events) == 2.5 + IDLE


def test_joining_the_group_does_not_count_as_idle():
    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    # Tansu answers a group's first join after half the session: nothing to read meanwhile, yet not idle
    assert replay(timer, ticks(0, 12, "unsettled")) is None
    assert replay(timer, ticks(12, 30, "settled")) == 11.5 + IDLE  # counted from its last look unsettled


def test_a_rebalance_longer_than_the_idle_time_does_not_stop_the_member():
    """The CI failure: data, then a rebalance that lasts 13 s; stopping in it left partitions unread. The
    member waits it out, reads what it was handed (nothing new here) and only then stops: at once, since
    nothing arrived for longer than the idle time."""
    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    events = ticks(0, 3, "unsettled") + [(3.0, "data")] + ticks(3.5, 4, "settled") + ticks(4, 17, "unsettled")
    assert replay(timer, events) is None
    assert replay(timer, [(17.0, "settled")]) == 17.0


def test_partitions_handed_over_with_a_backlog_are_read_before_stopping():
    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    events = ticks(0, 2, "unsettled") + [(2.0, "data")] + ticks(2.5, 12, "settled")
    # at 8.0 the idle time is up; a rebalance at 7.5 hands over partitions whose first fetch is still out
    events = [e for e in events if e[0] < 7.5] + ticks(7.5, 10, "unsettled") + [(10.0, "data"), (10.5, "data")]
    events += ticks(11, 20, "settled")
    assert replay(timer, events) == 10.5 + IDLE


def test_a_group_that_never_settles_stops_after_the_bound_and_says_so(caplog):
    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    with caplog.at_level(logging.WARNING, logger="logvec.kafka"):
        stopped = replay(timer, ticks(0, 60, "unsettled"))
    assert stopped == SETTLE - 0.5 + IDLE  # the clock held until the bound (last held at the look before)
    assert len(caplog.records) == 1 and "no settled assignment after 26 s" in caplog.text

    timer = IdleTimer(IDLE, SETTLE, now=0.0)
    events = [(1.0, "data"), (1.5, "settled")] + ticks(2, 60, "unsettled")
    assert replay(timer, events) == 2.0 + SETTLE  # a stuck rebalance: stops once the bound is reached
