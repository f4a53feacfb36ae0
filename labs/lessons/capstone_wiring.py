"""Lesson 13's capstone, the wiring: the order flow built the way a design says, on the real components.

    from labs.lessons import capstone_wiring as cw
    shop = cw.Shop(lab, design, office, notifications_proxy)   # clients, queues, topics, consumers
    shop.place("o-0001")            # one order: balance, seat, charge (the synchronous core), then
                                    # notify / settlement / seat changes, each as the design says
    shop.rebuild("analytics")       # analytics starts empty again; on a log it replays from the start
    shop.delivered()                # destination -> ids that reached it, in arrival order
    shop.close()

Synchronous flows are calls from "orders" (REST through labs.components.ticketing.remote, gRPC through
its stubs) that the order waits for: if one fails, the order fails. Asynchronous ones publish with
confirms (RabbitMQ) or acks=all (Kafka), which is the only thing the order waits for; consumers deliver
each message to its service and, while the service is down, put it back and try again a moment later
(lesson 03's courier, lessons 09-11's brokers):

    queue         one durable queue per flow; its subscribers compete for the messages (lesson 09)
    event broker  a fanout exchange, one durable queue per subscriber (lesson 10)
    Kafka         one topic per flow, one consumer group per subscriber, commit after delivery (lesson 11)

Layer: lessons (labs.clients.rabbit / kafka, the ticketing services' remote clients, the back office).
"""
from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from typing import Any, Callable, Iterator

from .. import tracing
from ..clients import kafka as lk
from ..clients import rabbit
from ..components.ticketing.domain import DomainError, Unavailable
from ..components.ticketing.remote import (GrpcConcerts, GrpcLink, GrpcNotifications, GrpcPayments, GrpcUsers,
                                           RestConcerts, RestLink, RestNotifications, RestPayments, RestUsers)
from . import events
from .backoffice import KINDS
from .capstone_design import EVENTS, FLOWS, GRPC, KAFKA, QUEUE, REST, Design

CALLER = "orders"            # how the designed order flow appears in traces
USER, CONCERT = "u1", "c1"   # a customer with a large balance, a concert with many seats
POST_PAYMENT = ("notify", "record_settlement", "seat_changes")
RETRY_S = 0.2                # a consumer whose service is down tries again after this long
TIMEOUT_S = 2.0
PUBLISHERS = 4               # channels per broker hand-off: one per client thread of the run


def _ids_in(texts: list[str]) -> list[str]:
    return [t[1:t.index("]")] for t in texts if t.startswith("[o-") and "]" in t]


class Destinations:
    """Where each flow's messages end up, and how to read back what arrived."""

    def __init__(self, lab: Any, office: Any, notifications_http: str):
        self.lab, self.office = lab, office
        self.notifications_http = notifications_http  # through the chaos proxy: its outage is real

    def sender(self, target: str, caller: str) -> Callable[[str, dict], None]:
        """A function that delivers one record to `target` over REST as `caller` (raises Unavailable)."""
        if target == "notifications":
            notes = RestNotifications(RestLink(caller, "notifications", self.notifications_http, timeout=TIMEOUT_S))
            return lambda key, data: notes.notify(USER, f"[{key}] Your ticket for {CONCERT} is confirmed.")
        link = self.office.link(target, caller, timeout=TIMEOUT_S)
        return lambda key, data: link.call("POST", f"/{target}/records", {"id": key, "data": data})

    def delivered(self) -> dict[str, list[str]]:
        direct = RestNotifications(RestLink("notebook", "notifications", self.lab.endpoint("notifications")["http"]))
        try:
            found = {"notifications": _ids_in([n.message for n in direct.list_notifications(USER)])}
        finally:
            direct.link.close()
        return found | {kind: self.office.ids(kind) for kind in KINDS}


# ---- the synchronous core ----------------------------------------------------------------------------

def core_clients(lab: Any, design: Design) -> tuple[Any, Any, Any, list]:
    """users, concerts, payments clients as the design chose (REST or gRPC), and their links to close."""
    links: list = []

    def client(service: str, rest_cls: type, grpc_cls: type, style: str) -> Any:
        if style == GRPC:
            link = GrpcLink(CALLER, service, lab.endpoint(service)["grpc"], timeout=TIMEOUT_S)
            links.append(link)
            return grpc_cls(link)
        link = RestLink(CALLER, service, lab.endpoint(service)["http"], timeout=TIMEOUT_S)
        links.append(link)
        return rest_cls(link)

    return (client("users", RestUsers, GrpcUsers, design["check_balance"].style),
            client("concerts", RestConcerts, GrpcConcerts, design["reserve_seat"].style),
            client("payments", RestPayments, GrpcPayments, design["charge"].style), links)


# ---- hand-offs after the payment -------------------------------------------------------------------

class SyncHop:
    """The order calls each target in turn and waits; a failure fails the order."""

    def __init__(self, flow: str, targets: list[Callable[[str, dict], None]]):
        self.flow, self.targets = flow, targets

    def send(self, key: str, data: dict) -> None:
        for deliver in self.targets:
            deliver(key, data)

    def start(self) -> None: ...
    def pause(self, target: str) -> None: ...
    def resume(self, target: str) -> None: ...  # a call delivered once: there is nothing to read again
    def close(self) -> None: ...


class _RabbitHop:
    """Publishing with confirms on channels taken from a small pool, opened before the first order
    (pika connections are not thread-safe: one publisher at a time per channel)."""

    def __init__(self, lab: Any, flow: str, subscribers: dict[str, Callable[[str, dict], None]], run_id: str,
                 publishers: int = PUBLISHERS):
        self.lab, self.flow, self.subscribers = lab, flow, subscribers
        self.name = f"capstone.{run_id}.{flow}"
        self.publishers = publishers
        self._pool: queue.Queue = queue.Queue()
        self._connections: list = []
        self.workers: dict[str, rabbit.Worker] = {}

    def _open_publishers(self) -> None:
        for _ in range(self.publishers):
            connection = rabbit.connect(self.lab)
            ch = connection.channel()
            ch.confirm_delivery()  # publish returns once RabbitMQ has stored the message
            self._connections.append(connection)
            self._pool.put(ch)

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        ch = self._pool.get(timeout=30)
        try:
            yield ch
        finally:
            self._pool.put(ch)

    def _handler(self, deliver: Callable[[str, dict], None]) -> Callable[[Any], None]:
        def handle(delivery: Any) -> None:
            body = delivery.body
            try:
                deliver(body["id"], body.get("data", {}))
            except DomainError:
                time.sleep(RETRY_S)  # the service is down: wait, then the Worker puts it back
                raise
        return handle

    def _worker(self, queue: str, subscriber: str) -> rabbit.Worker:
        return rabbit.Worker(self.lab, queue, f"{subscriber}-consumer", prefetch=1,
                             handler=self._handler(self.subscribers[subscriber])).start()

    def _queue_of(self, subscriber: str) -> str:
        return self.name

    def pause(self, target: str) -> None:
        if target in self.workers:
            self.workers[target].stop()  # its unacknowledged message goes back to the queue

    def resume(self, target: str) -> None:
        """The same queue again: it holds only what was not yet acknowledged, nothing older."""
        if target in self.workers:
            self.workers[target] = self._worker(self._queue_of(target), target)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        with contextlib.suppress(Exception), rabbit.channel(self.lab) as ch:
            self._cleanup(ch)
        for connection in self._connections:
            with contextlib.suppress(Exception):
                connection.close()

    def _cleanup(self, ch: Any) -> None: ...


class QueueHop(_RabbitHop):
    """One durable queue; the subscribers are competing consumers of it."""

    def start(self) -> None:
        with rabbit.channel(self.lab) as ch:
            rabbit.fresh_queue(ch, self.name, durable=True)
        self.workers = {name: self._worker(self.name, name) for name in self.subscribers}
        self._open_publishers()

    def send(self, key: str, data: dict) -> None:
        with self._channel() as ch:
            rabbit.publish(ch, self.name, {"id": key, "data": data}, persistent=True, sender=CALLER)

    def _cleanup(self, ch: Any) -> None:
        ch.queue_delete(self.name)


class EventHop(_RabbitHop):
    """A fanout exchange; each subscriber has a durable queue of its own bound to it."""

    def start(self) -> None:
        with rabbit.channel(self.lab) as ch:
            events.declare_fanout(ch, self.name)
            self.queues = {name: events.subscribe(ch, self.name, name) for name in self.subscribers}
        self.workers = {name: self._worker(queue, name) for name, queue in self.queues.items()}
        self._open_publishers()

    def send(self, key: str, data: dict) -> None:
        with self._channel() as ch:
            events.publish_event(ch, self.name, {"id": key, "data": data}, sender=CALLER)

    def _queue_of(self, subscriber: str) -> str:
        return self.queues[subscriber]

    def _cleanup(self, ch: Any) -> None:
        for queue in self.queues.values():
            ch.queue_delete(queue)
        ch.exchange_delete(self.name)


class _LogReader:
    """One consumer group reading a topic in a thread: deliver each record, commit after it."""

    def __init__(self, lab: Any, topic: str, group: str, name: str, deliver: Callable[[str, dict], None]):
        self.lab, self.topic, self.group, self.name, self.deliver = lab, topic, group, name, deliver
        self.delivered = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._joined = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capstone-{name}", daemon=True)

    def start(self) -> "_LogReader":
        self._thread.start()
        return self

    def wait_joined(self, timeout: float = 15.0) -> None:
        if not self._joined.wait(timeout) or self.error is not None:
            raise RuntimeError(f"{self.name} could not join group {self.group} on {self.topic}: {self.error}")

    def _run(self) -> None:
        try:
            consumer = lk.consumer(self.lab, self.topic, group_id=self.group, auto_offset_reset="earliest",
                                   enable_auto_commit=False)
        except BaseException as exc:  # noqa: BLE001  (reported by wait_joined)
            self.error = exc
            self._joined.set()
            return
        try:
            lk.wait_for_assignment(consumer)
            self._joined.set()
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    for record in records:
                        body = json.loads(record.value)
                        context = tracing.record_message("kafka", record.topic, "consume", headers=record.headers,
                                                         size=len(record.value), component=f"{self.name}-consumer")
                        with tracing.continue_trace(context):
                            while not self._stop.is_set():
                                try:
                                    self.deliver(body["id"], body.get("data", {}))
                                    self.delivered += 1
                                    break
                                except DomainError:
                                    self._stop.wait(RETRY_S)  # down: the record waits in the log
                    if not self._stop.is_set():  # stopped mid-retry: that record was not delivered
                        consumer.commit()
        except BaseException as exc:  # noqa: BLE001  (a broker that went away: report, do not crash)
            self.error = exc
            self._joined.set()
        finally:
            with contextlib.suppress(Exception):
                consumer.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class KafkaHop:
    """A topic; each subscriber reads it in a consumer group of its own."""

    def __init__(self, lab: Any, flow: str, subscribers: dict[str, Callable[[str, dict], None]], run_id: str,
                 producer: Any):
        self.lab, self.flow, self.subscribers, self.producer = lab, flow, subscribers, producer
        self.topic = f"capstone-{run_id}-{flow}"
        self.readers: dict[str, _LogReader] = {}

    def _reader(self, name: str, group: str) -> _LogReader:
        return _LogReader(self.lab, self.topic, group, name, self.subscribers[name]).start()

    def start(self) -> None:
        lk.create_topic(self.lab, self.topic, partitions=1)
        self.producer.partitions_for(self.topic)  # the topic's metadata now, not on the first order
        self.readers = {name: self._reader(name, f"{self.topic}-{name}") for name in self.subscribers}
        for reader in self.readers.values():
            reader.wait_joined()

    def send(self, key: str, data: dict) -> None:
        value = json.dumps({"id": key, "data": data})
        headers: list = []
        tracing.record_message("kafka", self.topic, "publish", headers=headers, size=len(value), component=CALLER)
        self.producer.send(self.topic, key=key, value=value, headers=headers or None).get(timeout=10)

    def pause(self, target: str) -> None:
        if target in self.readers:
            self.readers[target].stop()

    def resume(self, target: str) -> None:
        """A fresh consumer group for `target`, reading from offset 0: the replay."""
        if target in self.readers:
            self.readers[target] = self._reader(target, f"{self.topic}-{target}-rebuilt-{uuid.uuid4().hex[:6]}")

    def close(self) -> None:
        for reader in self.readers.values():
            reader.stop()
        with contextlib.suppress(Exception):  # a run's topic is of no use to the next one
            admin = lk.admin(self.lab)
            try:
                admin.delete_topics([self.topic])
            finally:
                admin.close()


class Shop:
    """The order flow of one design, wired: `place(key)` runs one order, hand-offs included."""

    def __init__(self, lab: Any, design: Design, destinations: Destinations, notifications_grpc: str | None = None):
        self.lab, self.design, self.destinations = lab, design, destinations
        self.users, self.concerts, self.payments, self._links = core_clients(lab, design)
        self.run_id = uuid.uuid4().hex[:8]
        self._producer = None
        self.hops: dict[str, Any] = {}
        for flow in POST_PAYMENT:
            choice = design[flow]
            targets = FLOWS[flow].targets
            if choice.style == GRPC:  # only notify can be gRPC (the back office speaks REST)
                link = GrpcLink(CALLER, "notifications", notifications_grpc, timeout=TIMEOUT_S)
                self._links.append(link)
                notes = GrpcNotifications(link)
                self.hops[flow] = SyncHop(flow, [lambda key, data, n=notes: n.notify(
                    USER, f"[{key}] Your ticket for {CONCERT} is confirmed.")])
            elif choice.style == REST:
                self.hops[flow] = SyncHop(flow, [destinations.sender(t, CALLER) for t in targets])
            else:
                subscribers = {t: destinations.sender(t, f"{t}-consumer") for t in targets}
                if choice.style == QUEUE:
                    self.hops[flow] = QueueHop(lab, flow, subscribers, self.run_id)
                elif choice.style == EVENTS:
                    self.hops[flow] = EventHop(lab, flow, subscribers, self.run_id)
                elif choice.style == KAFKA:
                    if self._producer is None:
                        self._producer = lk.producer(lab)
                    self.hops[flow] = KafkaHop(lab, flow, subscribers, self.run_id, self._producer)

    def start(self) -> "Shop":
        for hop in self.hops.values():
            hop.start()
        self.users.get_user(USER)  # connect before the first order, whatever the design
        self.concerts.get_concert(CONCERT)
        return self

    def place(self, key: str) -> dict[str, Any]:
        """One order. Returns {"ok", "charged", "failed_at" (a service or None), "error"}."""
        charged, reservation = False, None
        try:
            user = self.users.get_user(USER)
            reservation = self.concerts.reserve(CONCERT, user.id)
            if user.balance < reservation.price:
                raise DomainError(f"{user.id} cannot pay {reservation.price}", "insufficient_balance")
            self.payments.charge(user.id, reservation.price, reference=key)
            charged = True
            data = {"user": user.id, "concert": CONCERT, "amount": reservation.price}
            for flow in POST_PAYMENT:
                self.hops[flow].send(key, data)
            return {"ok": True, "charged": True, "failed_at": None, "error": None}
        except Exception as exc:  # noqa: BLE001  (a domain error, or a broker error: the order fails)
            if reservation is not None:
                with contextlib.suppress(Exception):  # compensation: give the seat back
                    self.concerts.release(CONCERT, reservation.id)
            service = exc.service if isinstance(exc, Unavailable) else type(exc).__name__
            return {"ok": False, "charged": charged, "failed_at": service, "error": str(exc)[:200]}

    def rebuild(self, target: str) -> int:
        """`target` is redeployed empty: its consumers stop, its data is wiped, its consumers start
        again (on a log, in a new group that reads from the beginning). Returns how many records it lost."""
        for hop in self.hops.values():
            hop.pause(target)
        wiped = self.destinations.office.wipe(target)
        for hop in self.hops.values():
            hop.resume(target)
        return wiped

    def consumers_delivered(self) -> int:
        """How many messages the consumers have delivered so far (to notice when they stop moving)."""
        total = 0
        for hop in self.hops.values():
            total += sum(len(w.received) for w in getattr(hop, "workers", {}).values())
            total += sum(r.delivered for r in getattr(hop, "readers", {}).values())
        return total

    def close(self) -> None:
        for hop in self.hops.values():
            with contextlib.suppress(Exception):
                hop.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
        for link in self._links:
            with contextlib.suppress(Exception):
                link.close()
