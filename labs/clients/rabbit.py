"""How code talks to the lab's RabbitMQ: connections, queues, publish and consume with pika, a
consumer thread, streaming confirms, request/reply. Lessons 03, 09-12 build on it.

Layer: clients (imports `labs.runtime` and the tracing hooks; lesson 09's experiments are in
labs.lessons.queues).

    import labs
    from labs.clients import rabbit
    lab = labs.start("rabbitmq")
    with rabbit.channel(lab) as ch:
        rabbit.fresh_queue(ch, "payments", durable=True)
        rabbit.publish(ch, "payments", {"payment_id": "p-1", "amount": 30}, persistent=True)
    with rabbit.Worker(lab, "payments", name="payments-1") as worker:
        worker.wait_for(1)
    worker.received[0].body                    # {'payment_id': 'p-1', 'amount': 30}

Bodies: a dict or list travels as JSON, a str as UTF-8 text, bytes as they are; consumers get the
same type back. Every publish and consume is recorded by `labs.trace` inside `trace.record()`.

pika's BlockingConnection is not thread-safe, so every Worker (a consumer in a daemon thread, which
dies with the kernel) opens its own connection.
"""
from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker

from .. import tracing
from ..runtime import Lab, LabError, args
from ..runtime.waiting import poll_until

BROKER = "rabbitmq"
MAX_MESSAGES = 100_000
MAX_PREFETCH = 65_535
_QUEUE_NAME = re.compile(r"[A-Za-z0-9._:-]{1,200}")


# ---------------------------------------------------------------- connections


def amqp_url(target: Lab | dict | str) -> str:
    """The AMQP URL of the lab's RabbitMQ, from a Lab, an endpoint dict or a URL."""
    if isinstance(target, Lab):
        if BROKER not in target.names:
            raise LabError(f"this lab has no rabbitmq (it has: {', '.join(target.names) or 'nothing'}); "
                           "start one with labs.start('rabbitmq')")
        target = target.endpoint(BROKER)
    if isinstance(target, dict):
        target = target.get("amqp")
    if not isinstance(target, str) or not target.startswith(("amqp://", "amqps://")):
        raise ValueError(f"expected a Lab, an endpoint dict with 'amqp', or an amqp:// URL, got {target!r}")
    return target


def connect(target: Lab | dict | str) -> pika.BlockingConnection:
    """A new blocking connection; a few quick retries cover a broker that is just coming back."""
    url = amqp_url(target)
    sep = "&" if "?" in url else "?"
    try:
        return pika.BlockingConnection(pika.URLParameters(url + sep + "connection_attempts=5&retry_delay=0.5"))
    except AMQPConnectionError as exc:
        raise LabError(f"RabbitMQ at {url.split('@')[-1].split('/')[0]} does not answer ({type(exc).__name__}); if it was "
                       "stopped or killed, labs.start('rabbitmq') starts it again on the same address") from exc


@contextlib.contextmanager
def channel(target: Lab | dict | str) -> Iterator[BlockingChannel]:
    """A channel on a connection of its own, both closed at the end of the block."""
    connection = connect(target)
    try:
        yield connection.channel()
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def check_name(name: object, what: str = "queue", declaring: bool = False) -> str:
    """A valid name; one you declare must not start with "amq." (the broker's own, e.g. amq.gen-...)."""
    if not isinstance(name, str) or not _QUEUE_NAME.fullmatch(name) or (declaring and name.startswith("amq.")):
        raise ValueError(f"a {what} name is 1-200 characters from a-z, A-Z, 0-9, '.', '_', ':' and '-'"
                         + (" (not starting with 'amq.')" if declaring else "") + f", got {name!r}")
    return name


def fresh_queue(ch: BlockingChannel, name: str, *, durable: bool = False, quorum: bool = False,
                delivery_limit: int | None = None, dead_letter_to: str | None = None,
                max_length: int | None = None, reject_when_full: bool = False) -> str:
    """Delete `name` (with whatever it held) and declare it again, so a cell can be run twice.

    quorum: a replicated, always durable queue that counts deliveries (needed for delivery_limit).
    delivery_limit: after this many redeliveries a message is dead-lettered (to `dead_letter_to`).
    max_length with reject_when_full: a full queue refuses new messages (publishers with confirms hear it).
    """
    check_name(name, declaring=True)
    arguments: dict[str, Any] = {}
    if quorum:
        arguments["x-queue-type"] = "quorum"
        durable = True  # quorum queues are durable by definition
    if delivery_limit is not None:
        if not quorum:
            raise ValueError("delivery_limit needs quorum=True: only quorum queues count deliveries")
        arguments["x-delivery-limit"] = args.whole("delivery_limit", delivery_limit, 0, 1000)
    if dead_letter_to is not None:
        arguments["x-dead-letter-exchange"] = ""  # the default exchange routes by queue name
        arguments["x-dead-letter-routing-key"] = check_name(dead_letter_to, "dead-letter queue")
    if max_length is not None:
        arguments["x-max-length"] = args.whole("max_length", max_length, 0, MAX_MESSAGES)
        if reject_when_full:
            arguments["x-overflow"] = "reject-publish"
    ch.queue_delete(name)
    ch.queue_declare(name, durable=durable, arguments=arguments or None)
    return name


def queue_depth(target: Lab | dict | str, name: str) -> tuple[int, int] | None:
    """(ready messages, consumers) of a queue, or None when the queue does not exist."""
    with channel(target) as ch:
        try:
            ok = ch.queue_declare(check_name(name), passive=True).method
        except ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return None
            raise
        return ok.message_count, ok.consumer_count


# ---------------------------------------------------------------- bodies, publish, consume


def encode(body: Any) -> tuple[bytes, str]:
    """(bytes, content type) for a dict/list (JSON), a str (text) or bytes."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain"
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8"), "application/json"
    raise TypeError(f"publish a dict, list, str or bytes, not {type(body).__name__}")


def decode(body: bytes, content_type: str | None) -> Any:
    if content_type == "application/json":
        return json.loads(body)
    if content_type == "text/plain":
        return body.decode("utf-8")
    return body


def publish(ch: BlockingChannel, routing_key: str, body: Any, *, exchange: str = "", persistent: bool = False,
            sender: str = "notebook", reply_to: str | None = None, correlation_id: str | None = None) -> None:
    """Publish one message; with the default exchange `routing_key` is the queue's name.

    persistent: the broker writes it to disk (it survives a restart only in a durable queue).
    In a trace the publish is named after the routing key (a queue, or a topic such as seat.reserved),
    or after the exchange when there is none (a fanout exchange ignores it).
    On a channel in confirm mode this returns once the broker has the message, and raises
    NackError if the broker refused it (UnroutableError when nothing could take it).
    """
    data, content_type = encode(body)
    headers: dict[str, Any] = {}
    tracing.record_message("amqp", routing_key or exchange, "publish", broker=BROKER, headers=headers,
                           size=len(data), component=sender)
    properties = pika.BasicProperties(content_type=content_type, headers=headers or None,
                                      delivery_mode=pika.DeliveryMode.Persistent if persistent else None,
                                      reply_to=reply_to, correlation_id=correlation_id)
    ch.basic_publish(exchange, routing_key, data, properties)


@dataclass(frozen=True)
class Delivery:
    """One message as a consumer got it."""
    body: Any
    consumer: str
    redelivered: bool = False
    headers: dict = field(default_factory=dict)
    correlation_id: str | None = None


def _delivery(method: Any, props: pika.BasicProperties, body: bytes, consumer: str) -> Delivery:
    return Delivery(decode(body, props.content_type), consumer, bool(method.redelivered),
                    dict(props.headers or {}), props.correlation_id)


def _traced(queue: str, props: pika.BasicProperties, size: int, consumer: str) -> tracing.TraceContext | None:
    return tracing.record_message("amqp", queue, "consume", broker=BROKER, headers=props.headers, size=size,
                                  component=consumer)


def drain(target: Lab | dict | str, queue: str, *, idle_seconds: float = 0.5, consumer: str = "notebook",
          limit: int = MAX_MESSAGES) -> list[Delivery]:
    """Consume (and ack) what `queue` holds until nothing arrives for `idle_seconds`; in arrival order."""
    args.seconds("idle_seconds", idle_seconds, 0, 60)
    args.whole("limit", limit, 1, MAX_MESSAGES)
    got: list[Delivery] = []
    with channel(target) as ch:
        ch.basic_qos(prefetch_count=1000)
        for method, props, body in ch.consume(check_name(queue), inactivity_timeout=idle_seconds):
            if method is None:
                break
            _traced(queue, props, len(body), consumer)
            got.append(_delivery(method, props, body, consumer))
            ch.basic_ack(method.delivery_tag)
            if len(got) >= limit:
                break
        ch.cancel()
    return got


class Worker:
    """A consumer of `queue` in a daemon thread: takes up to `prefetch` messages at a time (0 = no
    limit), runs `handler(delivery)` (or sleeps `work_seconds`), then acks.

    A handler that raises gets its message nacked and put back in the queue (`failures` counts it).
    A handler's return value, when the message has a reply_to, is published back with the same
    correlation_id (request/reply). Use it as a context manager, or start() and stop().
    """

    def __init__(self, target: Lab | dict | str, queue: str, name: str = "worker", *, prefetch: int = 1,
                 work_seconds: float = 0.0, handler: Callable[[Delivery], Any] | None = None) -> None:
        self.url = amqp_url(target)
        self.queue = check_name(queue)
        self.name = str(name)
        self.prefetch = args.whole("prefetch", prefetch, 0, MAX_PREFETCH)
        self.work_seconds = args.seconds("work_seconds", work_seconds, 0, 60)
        self.handler = handler
        self.received: list[Delivery] = []
        self.failures = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rabbit-worker-{self.name}", daemon=True)

    def start(self, timeout: float = 10.0) -> "Worker":
        """Start consuming; returns once the broker has registered the consumer."""
        self._thread.start()
        if not self._ready.wait(timeout) or self.error is not None:
            self.stop()
            raise LabError(f"worker {self.name} could not consume from {self.queue!r}: {self.error}")
        return self

    def _run(self) -> None:
        try:
            connection = connect(self.url)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        try:
            ch = connection.channel()
            ch.basic_qos(prefetch_count=self.prefetch)
            ch.basic_consume(self.queue, self._on_message)
            self._ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.05)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                connection.close()  # unacked messages go back to the queue

    def _on_message(self, ch: BlockingChannel, method: Any, props: pika.BasicProperties, body: bytes) -> None:
        delivery = _delivery(method, props, body, self.name)
        with tracing.continue_trace(_traced(self.queue, props, len(body), self.name)):
            try:
                reply = self.handler(delivery) if self.handler else time.sleep(self.work_seconds)
            except Exception:
                self.failures += 1
                ch.basic_nack(method.delivery_tag, requeue=True)
                return
            if reply is not None and props.reply_to:
                publish(ch, props.reply_to, reply, sender=self.name, correlation_id=props.correlation_id)
        ch.basic_ack(method.delivery_tag)
        self.received.append(delivery)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until this worker has handled `count` messages; False on timeout."""
        return poll_until(lambda: len(self.received) >= count, timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self) -> "Worker":
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Worker {self.name} on {self.queue!r}: {len(self.received)} handled, {self.failures} failed>"


def wait_for_messages(target: Lab | dict | str, queue: str, count: int, timeout: float = 10.0) -> bool:
    """Wait until `queue` holds at least `count` ready messages; False on timeout."""
    args.whole("count", count, 0, MAX_MESSAGES)
    return poll_until(lambda: (queue_depth(target, queue) or (0, 0))[0] >= count, timeout, 0.05)


# ---------------------------------------------------------------- confirms, many in flight


@dataclass
class ConfirmCount:
    published: int = 0
    acked: int = 0
    nacked: int = 0


def publish_streaming_confirms(target: Lab | dict | str, queue: str, bodies: list, *, persistent: bool = True,
                               window: int = 500, timeout: float = 120.0) -> ConfirmCount:
    """Publish with confirms without waiting for each one: keep up to `window` messages unconfirmed and
    count the broker's acks and nacks as they arrive (an ack may cover several messages at once).

    The same guarantee as `publish` on a confirm-mode channel (every ack means "stored"), many times
    faster: the publisher is no longer idle for a disk write per message. pika's BlockingConnection
    can only wait for each confirm, so this runs its own SelectConnection I/O loop.
    """
    check_name(queue)
    args.whole("window", window, 1, MAX_PREFETCH)
    payloads = [encode(body) for body in bodies]
    count = ConfirmCount()
    unconfirmed: set[int] = set()
    mode = pika.DeliveryMode.Persistent if persistent else None

    def pump(ch: Any) -> None:
        while len(unconfirmed) < window and count.published < len(payloads):
            data, content_type = payloads[count.published]
            ch.basic_publish("", queue, data, pika.BasicProperties(content_type=content_type, delivery_mode=mode))
            count.published += 1
            unconfirmed.add(count.published)  # delivery tags count from 1 on a channel
        if not unconfirmed and count.published == len(payloads):
            connection.close()

    def on_confirm(frame: Any) -> None:
        tag, multiple = frame.method.delivery_tag, frame.method.multiple
        done = {t for t in unconfirmed if t <= tag} if multiple else {tag} & unconfirmed
        unconfirmed.difference_update(done)
        if isinstance(frame.method, pika.spec.Basic.Ack):
            count.acked += len(done)
        else:
            count.nacked += len(done)
        pump(frame_channel[0])

    frame_channel: list[Any] = []

    def on_channel(ch: Any) -> None:
        frame_channel.append(ch)
        ch.confirm_delivery(on_confirm, callback=lambda _frame: pump(ch))

    failed: list[Any] = []

    def on_open_error(conn: Any, error: Any) -> None:
        failed.append(error)
        conn.ioloop.stop()

    connection = pika.SelectConnection(pika.URLParameters(amqp_url(target)),
                                       on_open_callback=lambda conn: conn.channel(on_open_callback=on_channel),
                                       on_open_error_callback=on_open_error,
                                       on_close_callback=lambda conn, reason: conn.ioloop.stop())
    connection.ioloop.call_later(args.seconds("timeout", timeout, 0, 3600), connection.close)
    connection.ioloop.start()
    if failed:
        raise LabError(f"could not connect to RabbitMQ: {failed[0]}")
    return count


# ---------------------------------------------------------------- request / reply


class RpcClient:
    """Request/reply over AMQP: each request carries reply_to (this client's private queue) and a
    fresh correlation_id; the reply with the same id is the answer, anything else is ignored."""

    def __init__(self, target: Lab | dict | str, queue: str, sender: str = "orders") -> None:
        self.queue = check_name(queue)
        self.sender = sender
        self.connection = connect(target)
        self.channel = self.connection.channel()
        # exclusive: the broker names it and deletes it when this connection closes
        self.reply_queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.basic_consume(self.reply_queue, self._on_reply, auto_ack=True)
        self.replies: dict[str, Any] = {}
        self.waiting: set[str] = set()
        self.ignored = 0  # replies to requests this client is no longer waiting for

    def _on_reply(self, ch: BlockingChannel, method: Any, props: pika.BasicProperties, body: bytes) -> None:
        _traced(self.reply_queue, props, len(body), self.sender)
        if props.correlation_id in self.waiting:
            self.replies[props.correlation_id] = decode(body, props.content_type)
        else:
            self.ignored += 1

    def call(self, request: Any, timeout: float = 5.0) -> Any:
        correlation_id = uuid.uuid4().hex
        self.waiting.add(correlation_id)
        publish(self.channel, self.queue, request, sender=self.sender, reply_to=self.reply_queue,
                correlation_id=correlation_id)
        deadline = time.monotonic() + args.seconds("timeout", timeout)
        while correlation_id not in self.replies:
            if time.monotonic() > deadline:
                self.waiting.discard(correlation_id)
                raise TimeoutError(f"no reply from {self.queue!r} within {timeout:g} s: is a server consuming it?")
            self.connection.process_data_events(time_limit=0.05)
        self.waiting.discard(correlation_id)
        return self.replies.pop(correlation_id)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

