"""`logvec run --workers N` without a broker: the join barrier and the summary of several workers."""

import threading
import time

from logvec.pipeline import RunSummary
from logvec.workers import new_barrier, wait_for_siblings


def test_workers_wait_for_each_other_before_joining_the_group(tmp_path):
    barrier = new_barrier(3, tmp_path)
    arrived: list[float] = []

    def worker(i: int, delay: float) -> None:
        time.sleep(delay)
        assert wait_for_siblings(barrier, i, timeout_s=30)
        arrived.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(i, 0.3 * i)) for i in range(3)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(arrived) == 3
    assert min(arrived) - start >= 0.6  # nobody went ahead of the last one


def test_workers_leave_the_barrier_in_turn_a_stagger_apart(tmp_path):
    """However their polls fall, workers leave at one common moment plus index × JOIN_STAGGER_S (Tansu holds
    back one of two joins that arrive within milliseconds of each other)."""
    from logvec.workers import JOIN_STAGGER_S

    for _ in range(3):
        barrier = new_barrier(3, tmp_path)
        left: dict[int, float] = {}

        def worker(i: int, delay: float) -> None:
            time.sleep(delay)
            assert wait_for_siblings(barrier, i, timeout_s=30)
            left[i] = time.time()

        threads = [threading.Thread(target=worker, args=(i, d)) for i, d in ((2, 0.0), (0, 0.013), (1, 0.071))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gaps = [left[i + 1] - left[i] for i in range(2)]
        assert all(abs(g - JOIN_STAGGER_S) < JOIN_STAGGER_S / 2 for g in gaps), gaps


def test_a_sibling_that_never_comes_does_not_hold_the_others(tmp_path):
    barrier = new_barrier(2, tmp_path)
    start = time.monotonic()
    assert wait_for_siblings(barrier, 0, timeout_s=0.5) is False
    assert time.monotonic() - start >= 0.5


def test_a_stop_request_ends_the_wait_for_siblings(tmp_path):
    barrier = new_barrier(2, tmp_path)
    asked = time.monotonic() + 0.3
    start = time.monotonic()
    assert wait_for_siblings(barrier, 0, timeout_s=30, give_up=lambda: time.monotonic() >= asked) is False
    assert 0.3 <= time.monotonic() - start < 5


def test_summaries_of_workers_add_up():
    a = RunSummary(lines=10, records=9, dead_letters=1, anomalies=2, templates=5, fitted=True, seconds=3.0,
                   active_seconds=2.0, active_from=100.0, active_until=102.0, stage_seconds={"store": 1.0})
    b = RunSummary(lines=20, records=20, templates=7, seconds=4.0, active_seconds=2.5, active_from=100.5,
                   active_until=103.0, stage_seconds={"store": 0.5, "mask": 0.2})
    idle = RunSummary(seconds=4.0)  # a worker that got no partition
    s = RunSummary.merge([a.to_dict(), b.to_dict(), idle.to_dict()])
    assert (s.lines, s.records, s.dead_letters, s.anomalies) == (30, 29, 1, 2)
    assert s.templates == 7 and s.fitted and s.seconds == 4.0
    assert (s.active_from, s.active_until, s.active_seconds) == (100.0, 103.0, 3.0)
    assert s.stage_seconds == {"store": 1.5, "mask": 0.2}
    assert s.lines_per_second == 10.0
