"""An asynchronous hand-off through RabbitMQ: send a notification now, deliver it when the service is up.

    import labs
    from labs.lessons import handoff
    lab = labs.start("orders", "rabbitmq")
    courier = handoff.Courier(lab).start()   # a daemon thread: queue -> notifications service
    outbox = handoff.Outbox(lab)
    outbox.send("u1", "Your ticket is confirmed")   # returns once RabbitMQ has it, whatever notifications does
    courier.delivered                          # grows once notifications answers

The sender only needs the broker. The courier takes one message at a time (prefetch 1) and
acknowledges it only after notifications stored it; while notifications cannot be reached it puts
the message back and tries again `retry_every` seconds later, so nothing is lost while it is down.

`send_and_wait` is the same hand-off with a hidden synchronous dependency: after sending, it polls
notifications until the message shows up, and gives up after a deadline (5 s). It looks
asynchronous, yet it fails whenever notifications is slow or down, just like a synchronous call.

Layer: lessons (labs.clients.rabbit and the ticketing components).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pika
import pika.exceptions

from ..clients import rabbit
from ..runtime import args
from ..components.ticketing.domain import Unavailable
from ..components.ticketing.remote import RestLink, RestNotifications

QUEUE = "lesson03.notifications"
clock = time.monotonic
_couriers: dict[tuple[str, str], "Courier"] = {}  # one courier per broker and queue, so a re-run replaces it


def _connect(lab: Any) -> pika.BlockingConnection:
    # labs.clients.rabbit's connection: quick retries, and an error that says how to bring RabbitMQ back
    return rabbit.connect(lab)


class Outbox:
    """The sender's side: durable queue, persistent messages, publisher confirms."""

    def __init__(self, lab: Any, queue: str = QUEUE):
        self.lab, self.queue = lab, queue
        self._connection: pika.BlockingConnection | None = None
        self._channel: Any = None

    def _ready_channel(self) -> Any:
        # A notebook may sit idle longer than the broker's heartbeat: open again when it was closed.
        if self._connection is None or self._connection.is_closed or self._channel.is_closed:
            self._connection = _connect(self.lab)
            self._channel = self._connection.channel()
            self._channel.queue_declare(self.queue, durable=True)
            self._channel.confirm_delivery()
        return self._channel

    def send(self, user_id: str, message: str) -> None:
        """Returns once RabbitMQ confirmed it stored the message (raises if it did not)."""
        body = json.dumps({"user_id": user_id, "message": message}).encode()
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent)
        try:
            self._ready_channel().basic_publish("", self.queue, body, properties, mandatory=True)
        except (pika.exceptions.StreamLostError, pika.exceptions.ConnectionClosed):
            self._connection = None  # the broker closed an idle connection: once more on a new one
            self._ready_channel().basic_publish("", self.queue, body, properties, mandatory=True)

    def waiting(self) -> int:
        """Messages in the queue not yet taken by a courier."""
        return self._ready_channel().queue_declare(self.queue, durable=True, passive=True).method.message_count

    def purge(self) -> None:
        self._ready_channel().queue_purge(self.queue)

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None


class Courier:
    """The receiver's side: a daemon thread that delivers each queued message to notifications."""

    def __init__(self, lab: Any, queue: str = QUEUE, retry_every: float = 0.2):
        args.seconds("retry_every", retry_every, 0.01, 60)
        self.lab, self.queue, self.retry_every = lab, queue, float(retry_every)
        self.delivered = self.attempts_failed = 0
        self.delivered_at: list[float] = []  # clock() of each delivery
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> "Courier":
        key = (self.lab.endpoint("rabbitmq")["amqp"], self.queue)
        previous = _couriers.get(key)
        if previous is not None:
            previous.stop()
        _couriers[key] = self
        self._thread = threading.Thread(target=self._run, name=f"courier-{self.queue}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError(f"the courier could not start consuming {self.queue} within 10 s: {self.error}")
        return self

    def _run(self) -> None:
        try:
            connection = _connect(self.lab)
            notifications = RestNotifications(RestLink("courier", "notifications",
                                                       self.lab.endpoint("notifications")["http"], timeout=2.0))
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=True)
            channel.basic_qos(prefetch_count=1)  # one message in hand: the others stay safely queued
        except Exception as exc:
            self.error = exc
            return
        self._ready.set()
        try:
            for method, _, body in channel.consume(self.queue, inactivity_timeout=0.1):
                if self._stop.is_set():
                    break
                if method is None:
                    continue
                note = json.loads(body)
                try:
                    notifications.notify(note["user_id"], note["message"])
                except Unavailable:
                    self.attempts_failed += 1
                    channel.basic_nack(method.delivery_tag, requeue=True)  # back in the queue, first in line
                    self._stop.wait(self.retry_every)
                    continue
                channel.basic_ack(method.delivery_tag)  # only now may RabbitMQ forget it
                self.delivered += 1
                self.delivered_at.append(clock())
            channel.cancel()
            connection.close()
        except Exception as exc:  # a broker that went away: report it, do not crash the kernel
            self.error = exc
        finally:
            notifications.link.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class HiddenDependencyTimeout(TimeoutError):
    """The hand-off was sent, but the answer the sender waited for did not come in time."""


def send_and_wait(outbox: Outbox, lab: Any, user_id: str, message: str, deadline_s: float = 5.0,
                  poll_every: float = 0.1, wait: bool = True) -> float:
    """Hand the message off, then poll notifications until it has been delivered: the "async" design
    with a hidden synchronous dependency. Returns the seconds it took; raises HiddenDependencyTimeout
    after `deadline_s`. wait=False returns right after the hand-off (the dependency removed)."""
    args.positive_seconds("deadline_s", deadline_s, 60)
    started = clock()
    outbox.send(user_id, message)
    if not wait:
        return clock() - started
    notifications = RestNotifications(RestLink("notebook", "notifications", lab.endpoint("notifications")["http"],
                                               timeout=poll_every * 5))
    try:
        while clock() - started < deadline_s:
            try:
                if any(n.message == message for n in notifications.list_notifications(user_id)):
                    return clock() - started
            except Unavailable:
                pass  # down: keep polling until the deadline, as such designs do
            time.sleep(poll_every)
    finally:
        notifications.link.close()
    raise HiddenDependencyTimeout(f"no delivery of {message!r} within {deadline_s:g} s")


def delivered_messages(lab: Any, user_id: str) -> list[str]:
    """What notifications has stored for `user_id` (raises Unavailable while it is down)."""
    link = RestLink("notebook", "notifications", lab.endpoint("notifications")["http"])
    try:
        return [n.message for n in RestNotifications(link).list_notifications(user_id)]
    finally:
        link.close()
