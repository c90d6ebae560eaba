"""Kafka source (kafka-python): a consumer group member that hands out batches and commits a batch's
offsets only when the runner says the batch is stored (at-least-once; record ids `topic/partition/offset`
make a replay overwrite, so the store sees each message once).

Messages that cannot become a line — not UTF-8, larger than `parse.max_line_size`, empty — are dead
letters with their reason, before parsing. Polls that bring nothing yield an empty batch, so the runner can
act on idleness (fit on what it has, stop when idle, stop on SIGTERM).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from kafka import ConsumerRebalanceListener
from kafka.structs import MemberState

from logvec.config import KafkaSourceConfig
from logvec.deadletter import DeadLetter
from logvec.metrics import (
    ASSIGNED_PARTITIONS,
    COMMIT_FAILURES,
    COMMITS,
    CONSUMER_LAG,
    REBALANCES,
    RECORDS_CONSUMED,
)
from logvec.parse import has_control_bytes
from logvec.records import RawBatch
from logvec.sources import KafkaUnavailableError
from logvec.sources.kafka_group import keep_finished_joins, told_to_rejoin

log = logging.getLogger("logvec.kafka")
T = TypeVar("T")


def connect(make: Callable[[], T], what: str, servers: list[str]) -> T:
    """Build a kafka-python client; an unreachable cluster is one clear error naming the servers."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        return make()
    except (KafkaConnectionError, KafkaTimeoutError) as e:
        raise KafkaUnavailableError(f"Kafka {what}: no broker answered at {', '.join(servers)} ({e})") from e


def heartbeat_ms(session_timeout: float) -> int:
    """A member learns that its group is rebalancing (a worker joined or left) at its next heartbeat, and the
    newcomer waits for it: every second at most, and a third of the session timeout when that is shorter, as
    Kafka advises."""
    return max(min(_ms(session_timeout) // 3, 1000), 100)


def _ms(seconds: float) -> int:
    """kafka-python takes durations in whole milliseconds."""
    return max(1, round(seconds * 1000))


def client_settings(config: KafkaSourceConfig, servers: list[str] | None = None) -> dict:
    """Connection settings shared by the consumer and the producers (security from the environment)."""
    s: dict = {"bootstrap_servers": servers or config.servers, "client_id": config.client_id,
               "security_protocol": config.security_protocol}
    if config.security_protocol in ("SSL", "SASL_SSL"):
        s.update(ssl_cafile=config.ssl_cafile, ssl_certfile=config.ssl_certfile, ssl_keyfile=config.ssl_keyfile,
                 ssl_check_hostname=config.ssl_check_hostname)
    if config.security_protocol.startswith("SASL"):
        if not config.sasl_mechanism:
            raise ValueError("source.sasl_mechanism is required with a SASL security_protocol")
        s["sasl_mechanism"] = config.sasl_mechanism
        if config.sasl_mechanism != "OAUTHBEARER":
            user, password = os.environ.get(config.sasl_username_env), os.environ.get(config.sasl_password_env)
            if user is None or password is None:
                raise ValueError(f"SASL credentials: set {config.sasl_username_env} and {config.sasl_password_env}")
            s.update(sasl_plain_username=user, sasl_plain_password=password)
    return s


def stable(consumer) -> bool:
    """The member owns partitions in a stable group: not joining, not rebalancing, and not told to rejoin (a
    heartbeat that saw a rebalance sets that while the state still reads stable)."""
    return (bool(consumer.assignment()) and consumer.group_metadata().state == MemberState.STABLE
            and not told_to_rejoin(consumer))


def settled(consumer) -> bool:
    """The member is `stable` and has read each of its partitions to its highwater (known once a fetch for it
    came back). kafka-python keeps reporting the old assignment while the member rejoins, and a partition
    just handed over has not been fetched yet: in neither case is there nothing left to read."""
    if not stable(consumer):
        return False
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None or (consumer.position(tp, timeout_ms=0) or 0) < high:
            return False
    return True


class IdleTimer:
    """When `--exit-when-idle` stops a group member: `idle_s` without data, counted only while the member is
    `settled`. Stopping in the middle of a rebalance, or before reading partitions just handed over, leaves
    them unread until the group rebalances again, and with every member idle, unread for good (a CI run on
    Tansu read 2,025 of 4,000 messages: one of two workers stopped with none, its assignment most likely lost in
    a rebalance that outlasted its 6 s). An unsettled spell holds the clock for at most `settle_s`; before the
    member first settles (joining takes seconds) the clock does not run at all."""

    def __init__(self, idle_s: float, settle_s: float, now: float) -> None:
        self.idle_s, self.settle_s = idle_s, settle_s
        self.last_data = now
        self.unsettled_since: float | None = now
        self.ever_settled = self.warned = False

    def data(self, now: float) -> None:
        self.last_data = now

    def expired(self, now: float, settled: bool) -> bool:
        """After a poll that brought nothing: is it time to stop?"""
        if settled:
            self.unsettled_since, self.ever_settled, self.warned = None, True, False
            return now - self.last_data >= self.idle_s
        if self.unsettled_since is None:
            self.unsettled_since = now
        if now - self.unsettled_since < self.settle_s:
            if not self.ever_settled:
                self.last_data = now  # the clock starts when the member first settles
            return False
        if not self.warned:
            self.warned = True
            log.warning("no settled assignment after %.0f s (the group keeps rebalancing, or this member got no "
                        "partition); the idle time counts anyway", self.settle_s)
        return now - self.last_data >= self.idle_s


class KafkaSource:
    def __init__(self, config: KafkaSourceConfig, max_line_bytes: int, idle_exit: float | None = None) -> None:
        self.config = config
        self.max_line_bytes = max_line_bytes
        self.idle_exit = idle_exit
        self.consumer: Any = None  # a KafkaConsumer once opened (kafka-python has no types)
        self._closed = False

    # ------------------------------------------------------------ group membership
    def open(self) -> Any:
        """Connect and subscribe (iterating opens it too); returns the kafka-python consumer."""
        from kafka import KafkaConsumer

        c = self.config
        self.consumer = connect(lambda: KafkaConsumer(
            group_id=c.group_id, group_instance_id=c.group_instance_id, enable_auto_commit=False,
            auto_offset_reset=c.auto_offset_reset,
            max_poll_records=c.max_poll_records, session_timeout_ms=_ms(c.session_timeout),
            fetch_min_bytes=int(c.fetch_min_size), fetch_max_wait_ms=_ms(c.fetch_max_wait),
            heartbeat_interval_ms=heartbeat_ms(c.session_timeout), max_poll_interval_ms=_ms(c.max_poll_interval),
            **client_settings(c)), "consumer", c.servers)
        keep_finished_joins(self.consumer)
        listener = _Listener()
        if c.pattern:
            self.consumer.subscribe(pattern=c.pattern, listener=listener)
        else:
            self.consumer.subscribe(topics=c.topics, listener=listener)
        return self.consumer

    # ------------------------------------------------------------ batches
    def to_batch(self, polled: dict) -> RawBatch:
        """A poll's messages (`KafkaConsumer.poll`'s answer) as one batch: decoded lines, their ids
        (topic/partition/offset), and dead letters for what cannot be a line."""
        batch = RawBatch([], [], meta=[], screened=True)
        for tp, messages in polled.items():
            if not messages:
                continue
            values, end = [m.value for m in messages], messages[-1].offset + 1
            prefix = f"{tp.topic}/{tp.partition}/"
            origins = [prefix + str(m.offset) for m in messages]
            decoded = self._decode_all(values)
            if decoded is not None:
                lines, clean = decoded
            else:  # something in here is not a plain line: sort the messages one by one
                lines, clean, kept = [], False, []
                for i, value in enumerate(values):
                    text, why = self._decode_one(value)
                    if why is None:
                        lines.append(text)
                        kept.append(i)
                    else:
                        raw = (value or b"")[:4096]
                        batch.dead.append(
                            DeadLetter(origins[i], why, raw.decode("utf-8", "replace"), raw_bytes=value or b""))
                origins, messages = [origins[i] for i in kept], [messages[i] for i in kept]
            batch.screened = batch.screened and clean  # else the parser screens the whole batch again
            batch.lines += lines
            batch.origins += origins
            batch.meta += messages  # the ConsumerRecords: key, headers and time are read only when mapped
            batch.offsets[tp] = end  # dead letters included: they are published before the commit
        batch.flags = [""] * len(batch.lines)
        RECORDS_CONSUMED.inc(len(batch.lines) + len(batch.dead))
        return batch

    def _decode_all(self, values: list) -> tuple[list[str], bool] | None:
        """The common case in C: every value a non-empty, one-line UTF-8 text under the size limit. Returns the
        lines and whether none holds a control character (then the parser need not screen them again)."""
        if None in values or max(map(len, values)) > self.max_line_bytes:
            return None
        data = b"\n".join(values)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        lines = text.split("\n")
        if len(lines) != len(values) or "" in map(str.strip, lines):
            return None
        return ([line.rstrip("\r") for line in lines] if "\r" in text else lines), not has_control_bytes(data)

    def _decode_one(self, value: bytes | None) -> tuple[str, str | None]:
        if value is None or not value.strip():
            return "", "empty message value"
        if len(value) > self.max_line_bytes:
            return "", f"message of {len(value)} bytes exceeds parse.max_line_size ({self.max_line_bytes})"
        try:
            return value.decode("utf-8").rstrip("\r\n"), None
        except UnicodeDecodeError as e:
            return "", f"not UTF-8: {e}"

    def _update_lag(self) -> None:
        """highwater − position per partition (the highwater the fetcher last saw: some brokers answer
        ListOffsets wrongly, the fetch responses rightly)."""
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(high - self.consumer.position(tp), 0))

    def __iter__(self) -> Iterator[RawBatch]:
        consumer = self.consumer or self.open()
        # a group still forming or rebalancing, or a partition not yet read to its end, is not an idle topic;
        # how long that may last is bounded by the session and rebalance timeouts
        settle_s = self.config.session_timeout + self.config.max_poll_interval
        idle = IdleTimer(self.idle_exit, settle_s, time.monotonic()) if self.idle_exit is not None else None
        quiet = False
        while not self._closed:
            polled = self._poll(consumer, quiet)
            quiet = not polled
            batch = self.to_batch(polled) if polled else RawBatch([], [])
            if polled:
                self._update_lag()
                if idle is not None:
                    idle.data(time.monotonic())
            elif idle is not None and idle.expired(time.monotonic(), settled(consumer)):
                return
            yield batch

    def _poll(self, consumer, quiet: bool) -> dict:
        """One poll. While data flows, or the group is (re)forming, it waits inside the poll up to
        `poll_timeout`. Once a poll came back empty in a stable group, it only takes what has arrived and
        sleeps `idle_poll_interval` between looks: kafka-python sends the next fetch as soon as one is
        answered, and against a broker that answers an empty fetch at once a waiting poll spun a core (an idle
        worker on noida-db used 6.6 s of CPU in 7 s, 1.9 s this way, start-up included).

        A member that has to rejoin does so in a waiting poll, not across the sleep, so that the group is not
        held up by it. (Before `keep_finished_joins`, kafka-python 3.0.12 also threw away a join answered during
        the sleep and sent a new JoinGroup: a member that joined an idle group on noida-db set off 13 joins each
        in 25 s.) So a rejoin is looked for before the quick poll, and one that poll set off is awaited at once."""
        if not (quiet and stable(consumer)):
            return consumer.poll(timeout_ms=_ms(self.config.poll_timeout))
        polled = consumer.poll(timeout_ms=0)
        if polled:
            return polled
        if not stable(consumer):  # this poll began a rejoin
            return consumer.poll(timeout_ms=_ms(self.config.poll_timeout))
        time.sleep(self.config.idle_poll_interval)
        return polled

    def commit(self, batch: RawBatch) -> None:
        """Commit the batch's offsets (called once it is stored). A failed commit is counted, not fatal:
        the group has moved the partition on, and its new owner re-reads the batch (ids make that harmless)."""
        if not batch.offsets or self.consumer is None:
            return
        from kafka.errors import CommitFailedError, KafkaError
        from kafka.structs import OffsetAndMetadata

        try:
            self.consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in batch.offsets.items()})
            COMMITS.inc()
        except (CommitFailedError, KafkaError) as e:
            COMMIT_FAILURES.inc()
            log.warning("offset commit failed (%s); the batch will be re-read by the partition's owner", e)

    def close(self) -> None:
        self._closed = True
        if self.consumer is not None:
            self.consumer.close(autocommit=False)
            self.consumer = None


class _Listener(ConsumerRebalanceListener):
    """Rebalance callbacks. Offsets are committed right after each stored batch and polls happen only
    between batches, so on revocation nothing stored is left uncommitted; this counts the events."""

    def on_partitions_revoked(self, revoked) -> None:
        REBALANCES.labels("revoked").inc()
        ASSIGNED_PARTITIONS.set(0)
        for tp in revoked:  # a partition we no longer own has no lag of ours
            try:
                CONSUMER_LAG.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass

    def on_partitions_assigned(self, assigned) -> None:
        REBALANCES.labels("assigned").inc()
        ASSIGNED_PARTITIONS.set(len(assigned))  # the whole new assignment (kafka-python rebalances eagerly)
        log.info("assigned %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))

