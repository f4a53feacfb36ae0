"""RabbitMQ for lessons 09 and 10: small pika helpers, one per delivery guarantee.

Layer: tools (imports `labs.runtime` and the tracing hooks, nothing from the lessons).

    import labs
    from labs import rabbit
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

import argparse
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker, NackError, UnroutableError

from .components import tracing
from .runtime import Lab, LabError

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


def _check_count(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _check_seconds(value: object, name: str, high: float = 600) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
        raise ValueError(f"{name} must be a number of seconds from 0 to {high:g}, got {value!r}")
    return float(value)


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
        arguments["x-delivery-limit"] = _check_count(delivery_limit, "delivery_limit", 0, 1000)
    if dead_letter_to is not None:
        arguments["x-dead-letter-exchange"] = ""  # the default exchange routes by queue name
        arguments["x-dead-letter-routing-key"] = check_name(dead_letter_to, "dead-letter queue")
    if max_length is not None:
        arguments["x-max-length"] = _check_count(max_length, "max_length", 0, MAX_MESSAGES)
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
    On a channel in confirm mode this returns once the broker has the message, and raises
    NackError if the broker refused it (UnroutableError when nothing could take it).
    """
    data, content_type = encode(body)
    headers: dict[str, Any] = {}
    tracing.record_message("amqp", exchange or routing_key, "publish", broker=BROKER, headers=headers,
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
    _check_seconds(idle_seconds, "idle_seconds", 60)
    _check_count(limit, "limit", 1, MAX_MESSAGES)
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
        self.prefetch = _check_count(prefetch, "prefetch", 0, MAX_PREFETCH)
        self.work_seconds = _check_seconds(work_seconds, "work_seconds", 60)
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
        return wait_until(lambda: len(self.received) >= count, timeout)

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


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + _check_seconds(timeout, "timeout")
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_for_messages(target: Lab | dict | str, queue: str, count: int, timeout: float = 10.0) -> bool:
    """Wait until `queue` holds at least `count` ready messages; False on timeout."""
    _check_count(count, "count", 0, MAX_MESSAGES)
    return wait_until(lambda: (queue_depth(target, queue) or (0, 0))[0] >= count, timeout, 0.05)


def _progress(iterable: range, label: str) -> Any:
    if os.environ.get("LABS_PROGRESS", "1") == "0" or len(iterable) < 1000:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=label, unit="msg", leave=False, mininterval=0.5)


# ---------------------------------------------------------------- one message, one consumer


@dataclass
class WorkSplit:
    """Who handled what when several workers consumed one queue."""
    prefetch: int
    handled: dict[str, int]
    seconds: float
    duplicates: int
    missing: int


def share_work(target: Lab | dict | str, queue: str, messages: int, work_seconds: dict[str, float], *,
               prefetch: int = 1, timeout: float = 60.0) -> WorkSplit:
    """Competing consumers: one worker per entry of {name: seconds per message} on one queue,
    then `messages` numbered messages; counts who handled which, and how long all took."""
    _check_count(messages, "messages", 1, MAX_MESSAGES)
    _check_count(prefetch, "prefetch", 0, MAX_PREFETCH)
    if not work_seconds:
        raise ValueError("work_seconds needs at least one worker, e.g. {'fast': 0.002, 'slow': 0.02}")
    with channel(target) as ch:
        fresh_queue(ch, queue)
        workers = [Worker(target, queue, name, prefetch=prefetch, work_seconds=s) for name, s in work_seconds.items()]
        try:
            for worker in workers:
                worker.start()  # every consumer is registered before the first message arrives
            started = time.perf_counter()
            for number in range(messages):
                publish(ch, queue, {"n": number})
            wait_until(lambda: sum(len(w.received) for w in workers) >= messages, timeout)
            seconds = time.perf_counter() - started
            time.sleep(0.2)  # room for a duplicate delivery to show up
        finally:
            for worker in workers:
                worker.stop()
    seen = Counter(d.body["n"] for w in workers for d in w.received)
    return WorkSplit(prefetch, {w.name: len(w.received) for w in workers}, seconds,
                     duplicates=sum(c - 1 for c in seen.values()), missing=messages - len(seen))


def plot_work_split(splits: list[WorkSplit], title: str = "who handled the messages"):
    """Messages per worker for each prefetch setting, with the time the whole batch took."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = list(splits[0].handled)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [k + i * width for k in range(len(splits))]
        bars = ax.bar(xs, [s.handled[name] for s in splits], width, label=name)
        ax.bar_label(bars, fontsize=9)
    ax.set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(splits))],
                  [f"prefetch={s.prefetch or 'unlimited'}\nall done in {s.seconds:.2f} s" for s in splits])
    ax.set_ylabel("messages handled")
    ax.margins(y=0.15)  # room for the bar labels
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- a consumer killed mid-message


@dataclass
class CrashTrial:
    """A consumer got a message and was SIGKILLed before it finished; did the message come back?"""
    auto_ack: bool
    killed_consumer_got: Any
    back_in_queue: int
    redelivered_to: str | None = None
    redelivered_flag: bool | None = None


def start_consumer_process(target: Lab | dict | str, queue: str, name: str, *, auto_ack: bool = False,
                           work_seconds: float = 3600.0) -> subprocess.Popen:
    """A consumer in a child process (`python -m labs.rabbit`), so it can really be SIGKILLed.

    It prints "ready", then "got <body>" for the first message, then works `work_seconds` on it.
    Its stdin is a pipe from us: when this process dies (even by SIGKILL) the pipe closes and the
    child exits, so it never outlives the kernel.
    """
    argv = [sys.executable, "-m", "labs.rabbit", amqp_url(target), check_name(queue), "--name", str(name),
            "--work-seconds", str(_check_seconds(work_seconds, "work_seconds", 3600))]
    env = {**os.environ, "LABS_TRACE_DIR": tracing.trace_dir() or ""}
    child = subprocess.Popen(argv + (["--auto-ack"] if auto_ack else []), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    if _read_line(child, 15) != "ready":
        child.kill()
        raise LabError(f"the consumer process {name} did not start; exit code {child.wait()}")
    return child


def _read_line(child: subprocess.Popen, timeout: float) -> str | None:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return child.stdout.readline().strip() if ready else None


def kill_consumer_mid_message(target: Lab | dict | str, queue: str, message: Any, *, auto_ack: bool = False,
                              sender: str = "orders") -> CrashTrial:
    """Give `message` to a consumer process, SIGKILL it while it works, then let a second consumer
    (a Worker named payments-2) take whatever the broker put back."""
    with channel(target) as ch:
        fresh_queue(ch, queue)
    child = start_consumer_process(target, queue, "payments-1", auto_ack=auto_ack)
    try:
        with channel(target) as ch:
            publish(ch, queue, message, sender=sender)
        line = _read_line(child, 10) or ""
    finally:
        child.send_signal(signal.SIGKILL)  # a crash: no ack, no goodbye to the broker
        child.wait()
    got = json.loads(line[4:]) if line.startswith("got ") else None
    # the broker notices the closed socket at once; wait until it has dropped the dead consumer
    wait_until(lambda: (queue_depth(target, queue) or (0, 0))[1] == 0, 10, 0.05)
    ready, _ = queue_depth(target, queue) or (0, 0)
    trial = CrashTrial(auto_ack, got, ready)
    if ready:
        with Worker(target, queue, "payments-2") as second:
            second.wait_for(1, 10)
        if second.received:
            trial.redelivered_to, trial.redelivered_flag = second.name, second.received[0].redelivered
    return trial


def _consumer_process_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.rabbit", description="a consumer to be killed")
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--name", default="consumer")
    parser.add_argument("--auto-ack", action="store_true")
    parser.add_argument("--work-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)

    def exit_with_parent() -> None:
        sys.stdin.read()  # returns when the parent's end of the pipe closes
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    tracing.set_component(args.name)
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    ch = connection.channel()
    ch.basic_qos(prefetch_count=1)
    print("ready", flush=True)
    for method, props, body in ch.consume(args.queue, auto_ack=args.auto_ack):
        _traced(args.queue, props, len(body), args.name)
        print("got", json.dumps(decode(body, props.content_type)), flush=True)
        time.sleep(args.work_seconds)  # "working": the parent kills us here
        if not args.auto_ack:
            ch.basic_ack(method.delivery_tag)


# ---------------------------------------------------------------- forcing a redelivery


def redeliver_after_crash(target: Lab | dict | str, queue: str, message: Any,
                          handle: Callable[[Any], Any]) -> list[Delivery]:
    """Deliver `message` to `handle` twice, as a crash between the work and the ack does: the first
    consumer handles it and its connection closes before the ack, so the broker gives it to the next.

    (In-process, by closing the connection: to the broker that is exactly what a dead consumer
    looks like, and it is quick enough for an exercise check.)
    """
    deliveries: list[Delivery] = []
    with channel(target) as ch:
        fresh_queue(ch, queue)
        publish(ch, queue, message)
    for consumer, ack in (("payments-1", False), ("payments-2", True)):
        connection = connect(target)
        try:
            ch = connection.channel()
            method, props, body = next(ch.consume(queue, inactivity_timeout=10))
            if method is None:
                raise LabError(f"no message arrived on {queue!r} for {consumer}")
            delivery = _delivery(method, props, body, consumer)
            deliveries.append(delivery)
            handle(delivery.body)
            if ack:
                ch.basic_ack(method.delivery_tag)
        finally:
            connection.close()  # without the ack above: the broker puts the message back
    return deliveries


# ---------------------------------------------------------------- durability across a restart


def restart_broker(lab: Lab) -> float:
    """`lab.restart("rabbitmq")` with a progress bar (it takes several seconds); returns the seconds."""
    if not isinstance(lab, Lab):
        raise TypeError(f"restart_broker needs the Lab from labs.start(...), got {type(lab).__name__}")
    outcome: list[BaseException] = []
    started = time.perf_counter()

    def restart() -> None:
        try:
            lab.restart(BROKER)
        except BaseException as exc:  # handed to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=restart, name="rabbit-restart", daemon=True)
    thread.start()
    bar = None
    if os.environ.get("LABS_PROGRESS", "1") != "0":
        from tqdm.auto import tqdm
        bar = tqdm(desc="restarting rabbitmq", bar_format="{desc}: {elapsed}", leave=False)
    while thread.is_alive():
        thread.join(0.25)
        if bar is not None:
            bar.refresh()
    if bar is not None:
        bar.close()
    if outcome:
        raise outcome[0]
    return time.perf_counter() - started


@dataclass
class DurabilityTrial:
    """Messages published to one queue before a broker restart, and how many were there after."""
    queue: str
    durable: bool
    persistent: bool
    confirms: bool
    published: int = 0
    confirmed: int = 0
    survived: int | None = None

    @property
    def lost(self) -> int | None:
        return None if self.survived is None else self.published - self.survived


def publish_before_restart(target: Lab | dict | str, queue: str, messages: int, *, durable: bool,
                           persistent: bool, confirms: bool) -> DurabilityTrial:
    """Publish `messages` numbered messages to a fresh queue. With confirms, a message counts as
    confirmed once the broker has acknowledged it (for a persistent message: once it is on disk)."""
    _check_count(messages, "messages", 1, MAX_MESSAGES)
    trial = DurabilityTrial(queue, durable, persistent, confirms)
    with channel(target) as ch:
        fresh_queue(ch, queue, durable=durable)
        if confirms:
            ch.confirm_delivery()
        for number in _progress(range(messages), f"publishing to {queue}"):
            publish(ch, queue, {"n": number}, persistent=persistent)
            trial.published += 1
            if confirms:  # in confirm mode basic_publish returned, so the broker said ack
                trial.confirmed += 1
    return trial


def count_after_restart(target: Lab | dict | str, trial: DurabilityTrial) -> DurabilityTrial:
    """Consume what is left of the trial's queue and count the distinct messages (0 if it is gone)."""
    if queue_depth(target, trial.queue) is None:
        trial.survived = 0
    else:
        trial.survived = len({d.body["n"] for d in drain(target, trial.queue)})
    return trial


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
    _check_count(window, "window", 1, MAX_PREFETCH)
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
    connection.ioloop.call_later(_check_seconds(timeout, "timeout", 3600), connection.close)
    connection.ioloop.start()
    if failed:
        raise LabError(f"could not connect to RabbitMQ: {failed[0]}")
    return count


# ---------------------------------------------------------------- confirms: hearing "no"


@dataclass
class FullQueueTrial:
    confirms: bool
    sent: int
    refused: int
    in_queue: int


def publish_into_full_queue(target: Lab | dict | str, queue: str, messages: int = 100, *, room: int = 10,
                            confirms: bool) -> FullQueueTrial:
    """Publish into a queue with room for `room` messages that refuses the rest. Without confirms the
    publisher cannot tell; with confirms each refusal comes back as a NackError."""
    _check_count(messages, "messages", 1, MAX_MESSAGES)
    refused = 0
    with channel(target) as ch:
        fresh_queue(ch, queue, max_length=_check_count(room, "room", 0, MAX_MESSAGES), reject_when_full=True)
        if confirms:
            ch.confirm_delivery()
        for number in range(messages):
            try:
                publish(ch, queue, {"n": number})
            except (NackError, UnroutableError):
                refused += 1
    ready, _ = queue_depth(target, queue) or (0, 0)
    return FullQueueTrial(confirms, messages, refused, ready)


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
        deadline = time.monotonic() + _check_seconds(timeout, "timeout")
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


if __name__ == "__main__":
    _consumer_process_main(sys.argv[1:])
