"""Lesson 11's small typed helpers: order events on a Kafka log, projections rebuilt by replay,
consumer-group members in child processes, and a consumer that stays correct when events repeat.

Layer: lessons (imports labs.clients.kafka, the runtime, the ticketing domain and kafka-python).

    import labs
    from labs.clients import kafka as lk
    from labs.lessons import eventlog
    lab = labs.start("kafka")
    lk.create_topic(lab, "orders", partitions=3)
    office = eventlog.BoxOffice(lab, "orders")        # a Monolith that publishes what happened
    office.place("u2", "c2"); office.cancel("o1")
    events = eventlog.replay(lab, "orders")           # every event, read again from offset 0
    eventlog.seats_left(events) == office.live_seats()

Members of a consumer group run as child processes (`python -m labs.lessons.eventlog member ...`), so a
lesson can SIGKILL one as a crash would. Each child is in its own session and is watched by the
runtime's reaper, so it also stops when the kernel that started it is killed.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from ..clients import kafka as lk
from .. import tracing
from ..components.ticketing.domain import SEED_CONCERTS, SEED_USERS, DomainError, Order
from ..components.ticketing.monolith import Monolith
from ..runtime import Lab
from ..runtime.reaper import Reaper

EVENT_TYPES = ("OrderPlaced", "OrderCancelled")
SEATS_TOTAL: dict[str, int] = {c.id: c.seats_total for c in SEED_CONCERTS}
STARTING_BALANCES: dict[str, int] = {u.id: u.balance for u in SEED_USERS}
MAX_MEMBERS = 16


class _NoProgress:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, text: str) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, desc: str, unit: str):
    """A tqdm.auto bar, or nothing when LABS_PROGRESS=0 (as everywhere in labs)."""
    if os.environ.get("LABS_PROGRESS", "1") == "0":
        return _NoProgress()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit=unit, leave=False)


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
    if isinstance(orders, bool) or not isinstance(orders, int) or not 1 <= orders <= 10_000:
        raise ValueError(f"orders must be a whole number from 1 to 10000, got {orders!r}")
    if isinstance(cancel_every, bool) or not isinstance(cancel_every, int) or not 2 <= cancel_every <= 1000:
        raise ValueError(f"cancel_every must be a whole number from 2 to 1000, got {cancel_every!r}")
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
    if isinstance(idle_ms, bool) or not isinstance(idle_ms, int) or not 50 <= idle_ms <= 60_000:
        raise ValueError(f"idle_ms must be a whole number of milliseconds from 50 to 60000, got {idle_ms!r}")
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


# ---------------------------------------------------------------- group members in child processes

_reaper: Reaper | None = None
_reaper_lock = threading.Lock()


def _watch(pid: int) -> None:
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = Reaper()
        _reaper.watch(pid)


class ChildProcess:
    """A `python -m labs.lessons.eventlog <role>` child printing one JSON object per line (its events).

    Its own session lets `kill()` take it down as a crash would; the reaper stops it when the
    kernel dies, even by SIGKILL."""

    def __init__(self, role: str, config: dict) -> None:
        self.name = config.get("name", role)
        self.events: list[dict] = []
        self.errors: list[str] = []  # the last lines it wrote to stderr, for error messages
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "labs.lessons.eventlog", role, json.dumps(config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, close_fds=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        _watch(self.popen.pid)
        threading.Thread(target=self._read, name=f"eventlog-{self.name}", daemon=True).start()
        threading.Thread(target=self._read_errors, name=f"eventlog-{self.name}-stderr", daemon=True).start()

    def _read_errors(self) -> None:
        for line in self.popen.stderr:
            self.errors = (self.errors + [line.rstrip()])[-10:]

    def _read(self) -> None:
        for line in self.popen.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self.events.append({"event": "exited", "member": self.name, "t": time.time()})
            self._changed.notify_all()

    def wait_for(self, event: str, timeout: float = 30.0) -> dict:
        """The first event named `event`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((e for e in self.events if e.get("event") == event), None)
                if found is not None:
                    return found
                if any(e.get("event") == "exited" for e in self.events):
                    said = "\n".join(self.errors[-5:]) or "nothing on stderr"
                    raise RuntimeError(f"{self.name} exited before {event!r}; its last words:\n{said}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {event!r} within {timeout:g} s")
                self._changed.wait(left)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> float:
        """SIGKILL: no LeaveGroup, no commit, nothing. Returns the time it happened (time.time())."""
        at = time.time()
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait(timeout=10)
        return at

    def leave(self, timeout: float = 15.0) -> float:
        """SIGTERM: the child closes its consumer, which sends LeaveGroup. Returns when it was asked."""
        at = time.time()
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return at


class ConsumerGroup:
    """Members of one consumer group, each a child process, and what each held when.

        group = ConsumerGroup(lab, "orders", "billing")
        group.add("m1"); group.add("m2"); group.add("m3")
        group.wait_until_shared(3)          # every partition held, by 3 members
        group.kill("m2"); group.wait_until_shared(2)
        group.timeline()                    # one row per (member, partitions, from, to)
    """

    def __init__(self, lab: Lab | dict | str, topic: str, group: str) -> None:
        lk.check_topic_name(topic)
        if not isinstance(group, str) or not group:
            raise ValueError(f"group must be a non-empty string, got {group!r}")
        self.bootstrap, self.topic, self.group = lk.bootstrap(lab), topic, group
        self.settings = lk.consumer_settings(lab)
        self.partitions = len(lk.partitions(lab, topic))
        self.members: dict[str, ChildProcess] = {}
        self.marks: list[tuple[float, str]] = []  # (time, what happened) for the plot
        self.started = time.time()

    def add(self, name: str) -> ChildProcess:
        if name in self.members:
            raise ValueError(f"member {name!r} exists; members: {', '.join(self.members)}")
        if len(self.members) >= MAX_MEMBERS:
            raise ValueError(f"at most {MAX_MEMBERS} members per group")
        self.marks.append((time.time(), f"{name} starts"))
        member = ChildProcess("member", {"name": name, "bootstrap": self.bootstrap, "topic": self.topic,
                                         "group": self.group, "settings": self.settings})
        self.members[name] = member
        return member

    def kill(self, name: str) -> None:
        self.marks.append((self._member(name).kill(), f"{name} killed"))

    def leave(self, name: str) -> None:
        self.marks.append((self._member(name).leave(), f"{name} leaves"))

    def _member(self, name: str) -> ChildProcess:
        if name not in self.members:
            raise ValueError(f"no member {name!r}; members: {', '.join(self.members) or 'none'}")
        return self.members[name]

    def assignment(self) -> dict[str, list[int]]:
        """What each live member holds now, by its own latest report."""
        held = {}
        for name, member in self.members.items():
            if not member.alive:
                continue
            latest = [e for e in list(member.events) if e.get("event") in ("assigned", "revoked")]
            held[name] = latest[-1]["partitions"] if latest and latest[-1]["event"] == "assigned" else []
        return held

    def wait_until_shared(self, members: int, timeout: float = 30.0) -> float:
        """Wait until `members` live members hold every partition between them, each a different
        share; returns the time (time.time()) it happened."""
        if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_MEMBERS:
            raise ValueError(f"members must be a whole number from 1 to {MAX_MEMBERS}, got {members!r}")
        deadline = time.monotonic() + timeout
        bar, shown = _progress(members, f"waiting for {members} member(s) to share {self.partitions} partitions",
                               "member"), 0
        try:
            while time.monotonic() < deadline:
                held = self.assignment()
                owned = [p for parts in held.values() for p in parts]
                holding = sum(1 for parts in held.values() if parts)
                if holding > shown:
                    bar.update(min(holding, members) - shown)
                    shown = min(holding, members)
                if (holding == members and len(held) == members
                        and sorted(owned) == list(range(self.partitions))):
                    return max(e["t"] for m in self.members.values() for e in list(m.events)
                               if e.get("event") == "assigned")
                time.sleep(0.05)
        finally:
            bar.close()
        raise TimeoutError(f"group {self.group!r}: not shared by {members} members within {timeout:g} s; "
                           f"now {self.assignment()}")

    def timeline(self) -> list[dict]:
        """One row per stretch a member held a set of partitions: member, partitions, start, end (s)."""
        rows, now = [], time.time()
        for name, member in self.members.items():
            current: dict | None = None
            for e in list(member.events):
                if e.get("event") in ("assigned", "revoked", "exited", "left") and current is not None:
                    current["end"] = e["t"] - self.started
                    rows.append(current)
                    current = None
                if e.get("event") == "assigned" and e["partitions"]:
                    current = {"member": name, "partitions": e["partitions"], "start": e["t"] - self.started}
            if current is not None:
                current["end"] = now - self.started
                rows.append(current)
        return rows

    def plot(self, title: str = "who holds which partitions"):
        """The timeline as bars per member (labelled with partitions) and a line at each event."""
        import matplotlib.pyplot as plt

        rows, names = self.timeline(), list(self.members)
        fig, ax = plt.subplots(figsize=(9, 0.6 + 0.55 * len(names)))
        for row in rows:
            y = names.index(row["member"])
            ax.broken_barh([(row["start"], row["end"] - row["start"])], (y - 0.35, 0.7), alpha=0.6)
            ax.text(row["start"] + 0.05, y, "p" + ",".join(map(str, row["partitions"])), va="center", fontsize=8)
        for at, what in self.marks:
            if "starts" not in what:
                ax.axvline(at - self.started, color="red", linestyle="--", linewidth=1)
                ax.text(at - self.started - 0.05, -0.45, what, color="red", fontsize=8, ha="right", va="bottom")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlim(left=0)
        ax.set_xlabel("seconds since the first member started")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig

    def close(self) -> None:
        for member in self.members.values():
            if member.alive:
                member.kill()


def _member_main(config: dict) -> None:
    """A group member: subscribe, report every assignment, keep polling; leave on SIGTERM."""
    name, stop = config["name"], threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def say(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "member": name, "t": time.time(), **fields}), flush=True)

    class Report(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            say("revoked", partitions=[])

        def on_partitions_assigned(self, assigned):
            say("assigned", partitions=sorted(tp.partition for tp in assigned))

    consumer = lk.consumer(config["bootstrap"], group_id=config["group"], client_id=name, **config["settings"])
    consumer.subscribe([config["topic"]], listener=Report())
    say("started")
    while not stop.is_set():
        consumer.poll(timeout_ms=100)
    consumer.close()  # sends LeaveGroup: the others get the partitions without waiting for a timeout
    say("left")


# ---------------------------------------------------------------- at-least-once, and its cure


class ChargeLedger:
    """The effect of handling an OrderPlaced event: a charge row in a SQLite database that
    outlives the consumer (a crash does not undo it, as a real payment would not be undone)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS charges (event_id TEXT, user_id TEXT, amount INTEGER)")
            db.execute("CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def charge(self, event: OrderEvent) -> bool:
        """Naive: charge for every event handled, even one handled before."""
        with self._connect() as db:
            db.execute("INSERT INTO charges VALUES (?, ?, ?)", (event.event_id, event.user_id, event.amount))
        return True

    def charge_once(self, event: OrderEvent) -> bool:
        """Idempotent: remember the event id in the same transaction as the charge; an id seen
        before changes nothing. Returns False for a duplicate."""
        with self._connect() as db:
            seen = db.execute("INSERT OR IGNORE INTO processed VALUES (?)", (event.event_id,)).rowcount == 0
            if seen:
                return False
            db.execute("INSERT INTO charges VALUES (?, ?, ?)", (event.event_id, event.user_id, event.amount))
        return True

    def charges(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM charges").fetchone()[0]

    def duplicate_charges(self) -> int:
        """Charges beyond the first for the same event: money taken twice."""
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM charges").fetchone()[0]

    def total(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COALESCE(SUM(amount), 0) FROM charges").fetchone()[0]


def handle(ledger: ChargeLedger, event: OrderEvent, idempotent: bool) -> bool:
    """What a payments consumer does with one event. Returns whether it charged."""
    if event.type != "OrderPlaced":
        return False
    return ledger.charge_once(event) if idempotent else ledger.charge(event)


def _charger_main(config: dict) -> None:
    """A payments consumer: handle, then commit every `commit_every` records. With `crash_after`,
    it stops after handling that many records, *before* committing them, and waits to be killed."""
    name = config["name"]
    ledger = ChargeLedger(config["db"])

    def say(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "member": name, "t": time.time(), **fields}), flush=True)

    consumer = lk.consumer(config["bootstrap"], config["topic"], group_id=config["group"], client_id=name,
                           value_deserializer=lk.TEXT, enable_auto_commit=False, **config["settings"])
    lk.wait_for_assignment(consumer)
    say("assigned")
    handled = charged = committed = 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < config["idle_s"] and not (handled and caught_up(consumer)):
        for record in [r for rs in consumer.poll(timeout_ms=100, max_records=1).values() for r in rs]:
            quiet_since = time.monotonic()
            charged += handle(ledger, event_of(record), config["idempotent"])
            handled += 1
            if handled == config.get("crash_after"):
                say("crash-point", handled=handled, charged=charged, committed=committed)
                time.sleep(3600)  # the parent SIGKILLs us here, after the effect, before the commit
            if handled % config["commit_every"] == 0:
                consumer.commit()
                committed = handled
    consumer.commit()
    say("done", handled=handled, charged=charged, committed=handled)
    consumer.close(autocommit=False)


@dataclass
class CrashReport:
    """What a crash between handling and committing cost, measured in the ledger."""
    idempotent: bool
    events: int             # OrderPlaced events on the topic
    handled_before_crash: int
    committed_before_crash: int
    handled_after_restart: int
    charges: int            # rows in the ledger
    duplicate_charges: int  # charges beyond the first per event
    redelivered: int        # events handled twice (before the crash and again after it)


def crash_before_commit(lab: Lab | dict | str, topic: str, group: str, db: str | os.PathLike,
                        idempotent: bool, crash_after: int = 15, commit_every: int = 10,
                        idle_s: float = 3.0) -> CrashReport:
    """Run a payments consumer that is SIGKILLed after handling `crash_after` events but before
    committing them, then a second one in the same group that resumes from the committed offset."""
    for label, value, low in (("crash_after", crash_after, 1), ("commit_every", commit_every, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100_000:
            raise ValueError(f"{label} must be a whole number from {low} to 100000, got {value!r}")
    if crash_after % commit_every == 0:
        raise ValueError(f"crash_after ({crash_after}) must not be a multiple of commit_every ({commit_every}): "
                         f"the crash must fall between two commits")
    if not 0.2 <= idle_s <= 30:
        raise ValueError(f"idle_s must be from 0.2 to 30 seconds, got {idle_s!r}")
    ledger = ChargeLedger(db)
    base = {"bootstrap": lk.bootstrap(lab), "topic": topic, "group": group, "db": str(db),
            "idempotent": bool(idempotent), "commit_every": commit_every, "idle_s": idle_s,
            "settings": lk.consumer_settings(lab)}
    first = ChildProcess("charger", {**base, "name": "payments-1", "crash_after": crash_after})
    try:
        crash = first.wait_for("crash-point")
    finally:
        first.kill()
    second = ChildProcess("charger", {**base, "name": "payments-2"})
    try:
        done = second.wait_for("done", timeout=60)
    finally:
        if second.alive:
            second.kill()
    on_topic = replay(lab, topic)
    return CrashReport(bool(idempotent), sum(e.type == "OrderPlaced" for e in on_topic), crash["handled"],
                       crash["committed"], done["handled"], ledger.charges(), ledger.duplicate_charges(),
                       redelivered=crash["handled"] + done["handled"] - len(on_topic))


# ---------------------------------------------------------------- the same workload on a queue


def queue_workload(amqp_url: str, queue: str, events: list[OrderEvent], consumers: int = 2) -> dict:
    """Publish `events` to a RabbitMQ queue, let `consumers` competing consumers drain it (acking
    each), then let one more consumer come late. Returns who got what and what the queue kept."""
    if isinstance(consumers, bool) or not isinstance(consumers, int) or not 1 <= consumers <= 16:
        raise ValueError(f"consumers must be a whole number from 1 to 16, got {consumers!r}")
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


def crash_side_by_side(lab: Lab | dict | str, topic: str, group_prefix: str, workdir: str | os.PathLike,
                       **options: Any) -> dict[str, CrashReport]:
    """`crash_before_commit` for a naive and an idempotent consumer at the same time (two groups,
    two ledgers), so the lesson waits for one crash-and-restart instead of two."""
    from concurrent.futures import ThreadPoolExecutor

    workdir = Path(workdir)
    bar = _progress(2, "crash, then restart: naive and idempotent consumers", "run")
    try:
        with ThreadPoolExecutor(2) as pool:
            runs = {kind: pool.submit(crash_before_commit, lab, topic, f"{group_prefix}-{kind}",
                                      workdir / f"{kind}.sqlite", kind == "idempotent", **options)
                    for kind in ("naive", "idempotent")}
            for run in runs.values():
                run.add_done_callback(lambda _: bar.update(1))
            return {kind: run.result() for kind, run in runs.items()}
    finally:
        bar.close()


if __name__ == "__main__":  # python -m labs.lessons.eventlog member|charger '<json config>'
    role, settings = sys.argv[1], json.loads(sys.argv[2])
    {"member": _member_main, "charger": _charger_main}[role](settings)
