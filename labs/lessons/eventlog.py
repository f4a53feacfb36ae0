"""Lesson 11's log of order events: what happened, kept on a Kafka topic, read again and again.

Layer: lessons (imports labs.clients.kafka, the tracing hooks, the ticketing domain and kafka-python).

    import labs
    from labs.clients import kafka as lk
    from labs.lessons import eventlog
    lab = labs.start("kafka")
    lk.create_topic(lab, "orders", partitions=3)
    office = eventlog.BoxOffice(lab, "orders")        # a Monolith that publishes what happened
    office.place("u2", "c2"); office.cancel("o1")
    events = eventlog.replay(lab, "orders")           # every event, read again from offset 0
    eventlog.seats_left(events) == office.live_seats()

Consumer-group members as child processes are in labs.lessons.consumer_groups; a consumer that crashes
between its effect and its commit, and the idempotent cure, in labs.lessons.at_least_once.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from kafka import KafkaConsumer

from .. import tracing
from ..clients import kafka as lk
from ..components.ticketing.domain import SEED_CONCERTS, SEED_USERS, DomainError, Order
from ..components.ticketing.monolith import Monolith
from ..runtime import Lab, args

EVENT_TYPES = ("OrderPlaced", "OrderCancelled")
SEATS_TOTAL: dict[str, int] = {c.id: c.seats_total for c in SEED_CONCERTS}
STARTING_BALANCES: dict[str, int] = {u.id: u.balance for u in SEED_USERS}


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class OrderEvent:
    """One fact about an order. `event_id` is unique per event: consumers dedupe by it."""
    event_id: str
    type: str  # one of EVENT_TYPES
    order_id: str
    user_id: str
    concert_id: str
    amount: int

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"type must be one of {', '.join(EVENT_TYPES)}, got {self.type!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> "OrderEvent":
        return cls(**json.loads(data))


def event_of(record: Any) -> OrderEvent:
    """The OrderEvent in a consumed record (value as str or bytes)."""
    value = record.value
    try:
        return OrderEvent.from_json(value if isinstance(value, (str, bytes)) else bytes(value))
    except (TypeError, ValueError) as err:
        raise ValueError(f"record {record.topic}/{record.partition}@{record.offset} is not an OrderEvent "
                         f"({err}): {str(value)[:80]!r}") from None


def publish(producer: Any, topic: str, event: OrderEvent, component: str = "box-office") -> Any:
    """Send `event` keyed by its order id: every event of one order lands in one partition, in order
    (an OrderCancelled is never read before its OrderPlaced).

    Inside `trace.record()` the send is a span `component -> kafka` and carries the trace header."""
    value = event.to_json()
    headers: list[tuple[str, bytes]] = []
    tracing.record_message("kafka", topic, "publish", headers=headers, size=len(value), component=component)
    return producer.send(topic, key=event.order_id, value=value, headers=headers or None)


def consumed(record: Any, component: str) -> Any:
    """Record that `component` consumed `record` (a span `kafka -> component` inside trace.record());
    returns the context to handle it in, for `with tracing.continue_trace(...)`."""
    size = len(record.value) if record.value is not None else 0
    return tracing.record_message("kafka", record.topic, "consume", headers=record.headers, size=size,
                                  component=component)


class BoxOffice:
    """The ticketing monolith (lesson 01's live state) that publishes an event for each change."""

    def __init__(self, lab: Lab | dict | str, topic: str, component: str = "box-office") -> None:
        lk.check_topic_name(topic)
        self.topic, self.component = topic, component
        self.shop = Monolith()
        self.producer = lk.producer(lab)
        self.orders: dict[str, Order] = {}
        self.refused: list[str] = []  # reasons of orders the domain refused: no event for those

    def place(self, user_id: str, concert_id: str) -> OrderEvent | None:
        """Place an order; publish OrderPlaced when it went through, nothing when it was refused."""
        try:
            order = self.shop.place_order(user_id, concert_id)
        except DomainError as err:
            self.refused.append(err.reason)
            return None
        self.orders[order.id] = order
        return self._emit("OrderPlaced", order)

    def cancel(self, order_id: str) -> OrderEvent:
        """Give the seat back for resale and publish OrderCancelled. The box office keeps the money
        (no refunds), so a user's balance depends on OrderPlaced events only."""
        order = self.orders.pop(order_id, None)
        if order is None:
            raise ValueError(f"no open order {order_id!r}; open orders: {', '.join(self.orders) or 'none'}")
        self.shop.concerts.release(order.concert_id, order.reservation_id)
        return self._emit("OrderCancelled", order)

    def _emit(self, kind: str, order: Order) -> OrderEvent:
        event = OrderEvent(uuid.uuid4().hex[:12], kind, order.id, order.user_id, order.concert_id, order.amount)
        publish(self.producer, self.topic, event, self.component)
        return event

    def flush(self) -> None:
        self.producer.flush(timeout=10)

    def live_seats(self) -> dict[str, int]:
        """Seats left per concert, from the ticketing store itself: the source of truth."""
        return {c: self.shop.get_concert(c).seats_left for c in SEATS_TOTAL}

    def live_balances(self) -> dict[str, int]:
        return {u: self.shop.get_user(u).balance for u in STARTING_BALANCES}

    def close(self) -> None:
        self.producer.close(timeout=5)


def sample_workload(office: BoxOffice, orders: int = 40, cancel_every: int = 7) -> list[OrderEvent]:
    """A fixed mix of orders, mostly by u1 (rich) and some refused (c3 has two seats, u5 cannot
    pay, u3 runs out of credit), with every `cancel_every`-th successful order cancelled.
    Returns the events published."""
    args.whole("orders", orders, 1, 10_000)
    args.whole("cancel_every", cancel_every, 2, 1000)
    users, concerts = ("u1", "u2", "u1", "u3", "u1", "u5", "u1", "u4"), ("c1", "c2", "c3", "c1", "c2")
    events: list[OrderEvent] = []
    for i in range(orders):
        placed = office.place(users[i % len(users)], concerts[i % len(concerts)])
        if placed is None:
            continue
        events.append(placed)
        if sum(e.type == "OrderPlaced" for e in events) % cancel_every == 0:
            events.append(office.cancel(placed.order_id))
    office.flush()
    return events


# ---------------------------------------------------------------- projections


def seats_left(events: Iterable[OrderEvent], seats_total: dict[str, int] | None = None) -> dict[str, int]:
    """Seat availability folded from order events: total, minus each placed, plus each cancelled."""
    seats = dict(SEATS_TOTAL if seats_total is None else seats_total)
    for event in events:
        seats[event.concert_id] += -1 if event.type == "OrderPlaced" else 1
    return seats


# ---------------------------------------------------------------- reading a topic


def caught_up(consumer: KafkaConsumer) -> bool:
    """True when the consumer's position has reached the high watermark of every partition it holds.

    The high watermark comes with each fetch response; unlike end_offsets() (a separate request
    the local broker answers wrong when a batch held several records, see
    labs.clients.kafka.TANSU_DIFFERENCES), it was exact there: 37, 5 000 and 20 001 records on 1 and 3
    partitions (docs/kafka-local-broker.md)."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    for tp in assigned:
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True


def read_to_end(consumer: KafkaConsumer, idle_ms: int = 2000, limit: int | None = None,
                timeout: float = 30.0) -> list[Any]:
    """Poll until caught up with every partition (or `limit` records came, or, as a fallback,
    nothing arrived for `idle_ms`); the records in arrival order."""
    args.whole("idle_ms (milliseconds)", idle_ms, 50, 60_000)
    records: list[Any] = []
    quiet_since = time.monotonic()
    deadline = quiet_since + timeout
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=100, max_records=None if limit is None else limit - len(records))
        got = [r for rs in batch.values() for r in rs]
        if got:
            records += got
            quiet_since = time.monotonic()
            if limit is not None and len(records) >= limit:
                break
        if caught_up(consumer) or time.monotonic() - quiet_since >= idle_ms / 1000:
            break
    return records


def records(lab: Lab | dict | str, topic: str, since_ms: int | None = None, idle_ms: int = 2000) -> list[Any]:
    """Every record of `topic` again, in arrival order, from offset 0 (or from the first record at
    or after the timestamp `since_ms`, found with offsets_for_times), by a consumer outside any group."""
    consumer = replay_consumer(lab, topic, since_ms)
    try:
        if not consumer.assignment():
            return []  # no partition holds anything that recent
        found = read_to_end(consumer, idle_ms=idle_ms)
    finally:
        consumer.close()
    # offsets_for_times points at a record; the filter only matters if a broker answered with the
    # start of a batch that began before since_ms.
    return found if since_ms is None else [r for r in found if r.timestamp >= since_ms]


def replay(lab: Lab | dict | str, topic: str, since_ms: int | None = None, idle_ms: int = 2000) -> list[OrderEvent]:
    """The OrderEvents of `topic` again (see `records`)."""
    return [event_of(r) for r in records(lab, topic, since_ms, idle_ms)]


def by_key(found: Iterable[Any]) -> dict[str, dict]:
    """{key: {"partitions": set of partitions it was in, "values": values in arrival order}}."""
    keys: dict[str, dict] = {}
    for record in found:
        key = record.key.decode() if isinstance(record.key, bytes) else str(record.key)
        entry = keys.setdefault(key, {"partitions": set(), "values": []})
        entry["partitions"].add(record.partition)
        entry["values"].append(record.value)
    return keys


def inversions(values: Iterable[int]) -> int:
    """How many times a value arrived after a larger one (0 for a sequence in order)."""
    count, highest = 0, None
    for value in values:
        if highest is not None and value < highest:
            count += 1
        highest = value if highest is None else max(highest, value)
    return count


def replay_consumer(lab: Lab | dict | str, topic: str, since_ms: int | None = None) -> KafkaConsumer:
    """A consumer outside any group, positioned at the start of every partition of `topic`, or at
    the first record at or after `since_ms` (partitions with nothing that recent are left out)."""
    if since_ms is not None and (isinstance(since_ms, bool) or not isinstance(since_ms, int) or since_ms < 0):
        raise ValueError(f"since_ms must be a whole number of milliseconds since the epoch (>= 0), got {since_ms!r}")
    tps = lk.partitions(lab, topic)
    consumer = lk.consumer(lab, value_deserializer=lk.TEXT, enable_auto_commit=False)
    if since_ms is None:
        consumer.assign(tps)
        consumer.seek_to_beginning()
        return consumer
    found = consumer.offsets_for_times({tp: since_ms for tp in tps})
    # Apache Kafka answers None for a partition with no record that recent; the local broker
    # answers offset 0 with timestamp -1 instead (lk.TANSU_DIFFERENCES). Both mean "nothing here".
    start = {tp: hit.offset for tp, hit in found.items() if hit is not None and hit.timestamp >= 0}
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    return consumer


def read_as_group(lab: Lab | dict | str, topic: str, group: str, limit: int | None = None,
                  component: str | None = None) -> list[OrderEvent]:
    """Join `group`, read what it has not read yet (at most `limit`), commit, leave.

    The commit stores the group's position on the broker: the next member of this group starts there."""
    consumer = lk.consumer(lab, topic, group_id=group, value_deserializer=lk.TEXT, enable_auto_commit=False)
    try:
        lk.wait_for_assignment(consumer)
        records = read_to_end(consumer, limit=limit)
        for record in records:
            consumed(record, component or group)
        if records:
            consumer.commit()
        return [event_of(r) for r in records]
    finally:
        consumer.close(autocommit=False)


def committed_offsets(lab: Lab | dict | str, group: str) -> dict[int, int]:
    """{partition: committed offset} of a group, as the broker keeps it."""
    client = lk.admin(lab)
    try:
        offsets = client.list_group_offsets(group)
    finally:
        client.close()
    offsets = offsets.get(group, offsets)  # kafka-python 3 answers {group: {...}}, 2.x {...}
    return {tp.partition: meta.offset for tp, meta in sorted(offsets.items())}


# ---------------------------------------------------------------- the same workload on a queue


def queue_workload(amqp_url: str, queue: str, events: list[OrderEvent], consumers: int = 2) -> dict:
    """Publish `events` to a RabbitMQ queue, let `consumers` competing consumers drain it (acking
    each), then let one more consumer come late. Returns who got what and what the queue kept."""
    args.whole("consumers", consumers, 1, 16)
    from ..clients import rabbit

    connection = rabbit.connect(amqp_url)  # retries briefly; a clear error when RabbitMQ is down
    try:
        setup = connection.channel()
        setup.queue_delete(queue)
        setup.queue_declare(queue)
        for event in events:
            setup.basic_publish("", queue, event.to_json().encode())
        got: dict[str, list[str]] = {f"worker-{i + 1}": [] for i in range(consumers)}
        channels = []
        for name in got:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=1)  # one at a time: the broker hands them out in turn

            def on_message(ch, method, _props, body, name=name):
                got[name].append(OrderEvent.from_json(body).event_id)
                ch.basic_ack(method.delivery_tag)
            channel.basic_consume(queue, on_message)
            channels.append(channel)
        deadline = time.monotonic() + 20
        while sum(map(len, got.values())) < len(events) and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
        for channel in channels:
            channel.close()
        left = setup.queue_declare(queue, passive=True).method.message_count
        late = []
        while (message := setup.basic_get(queue, auto_ack=True))[0] is not None:
            late.append(message[2])
        setup.queue_delete(queue)
        return {"per_consumer": got, "left_in_queue": left, "late_consumer_got": len(late)}
    finally:
        connection.close()
