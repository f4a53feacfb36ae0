"""Lesson 09's experiments on a real RabbitMQ: competing consumers and prefetch, a consumer killed
mid-message, a forced redelivery, a broker restart with a progress bar, a full queue refusing.
(The durability switches themselves, durable queue, persistent message and publisher confirms, are
plain pika in the lesson's own cells.)

    from labs.lessons import queues
    split = queues.share_work(lab, "tickets", 60, {"fast": 0.002, "slow": 0.02}, prefetch=1)
    queues.plot_work_split([split])

Layer: lessons (the pika plumbing it uses is labs.clients.rabbit).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

import pika
from pika.exceptions import NackError, UnroutableError

from .. import tracing
from ..clients.rabbit import (BROKER, MAX_MESSAGES, MAX_PREFETCH, Delivery, Worker, _delivery, _traced, amqp_url,
                              channel, check_name, connect, decode, fresh_queue, publish, queue_depth)
from ..runtime import Lab, LabError, args
from ..runtime.child import Child, say
from ..runtime.progress import bar as progress_bar
from ..runtime.waiting import poll_until


# ---------------------------------------------------------------- one message, one consumer


@dataclass
class WorkSplit:
    """Who handled what when several workers consumed one queue."""
    prefetch: int
    handled: dict[str, int]
    seconds: float
    duplicates: int
    missing: int

    def __repr__(self) -> str:  # the seconds rounded: a notebook shows this
        return (f"WorkSplit(prefetch={self.prefetch}, handled={self.handled}, seconds={self.seconds:.2f}, "
                f"duplicates={self.duplicates}, missing={self.missing})")


def share_work(target: Lab | dict | str, queue: str, messages: int, work_seconds: dict[str, float], *,
               prefetch: int = 1, timeout: float = 60.0) -> WorkSplit:
    """Competing consumers: one worker per entry of {name: seconds per message} on one queue,
    then `messages` numbered messages; counts who handled which, and how long all took."""
    args.whole("messages", messages, 1, MAX_MESSAGES)
    args.whole("prefetch", prefetch, 0, MAX_PREFETCH)
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
            poll_until(lambda: sum(len(w.received) for w in workers) >= messages, timeout)
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
                           work_seconds: float = 3600.0) -> Child:
    """A consumer in a child process (`python -m labs.lessons.queues`), so it can really be SIGKILLed.

    It reports "ready", then "got" with the body of the first message, then works `work_seconds` on
    it. Like every child of the lab it is stopped when the kernel dies, even by SIGKILL."""
    argv = [amqp_url(target), check_name(queue), "--name", args.text("name", name),
            "--work-seconds", str(args.seconds("work_seconds", work_seconds, 0, 3600))]
    child = Child("labs.lessons.queues", *argv, *(["--auto-ack"] if auto_ack else []), name=name,
                  env={"LABS_TRACE_DIR": tracing.trace_dir() or ""})
    try:
        child.wait_for("ready", timeout=15)
    except (LabError, TimeoutError) as exc:
        child.kill()
        raise LabError(f"the consumer process {name} did not start: {exc}") from None
    return child


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
        try:
            got = child.wait_for("got", timeout=10)["body"]
        except TimeoutError:
            got = None
    finally:
        child.kill()  # a crash: no ack, no goodbye to the broker
    # the broker notices the closed socket at once; wait until it has dropped the dead consumer
    poll_until(lambda: (queue_depth(target, queue) or (0, 0))[1] == 0, 10, 0.05)
    ready, _ = queue_depth(target, queue) or (0, 0)
    trial = CrashTrial(auto_ack, got, ready)
    if ready:
        with Worker(target, queue, "payments-2") as second:
            second.wait_for(1, 10)
        if second.received:
            trial.redelivered_to, trial.redelivered_flag = second.name, second.received[0].redelivered
    return trial


def _consumer_process_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m labs.lessons.queues", description="a consumer to be killed")
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("--name", default="consumer")
    parser.add_argument("--auto-ack", action="store_true")
    parser.add_argument("--work-seconds", type=float, default=3600.0)
    given = parser.parse_args(argv)
    tracing.set_component(given.name)
    connection = pika.BlockingConnection(pika.URLParameters(given.url))
    ch = connection.channel()
    ch.basic_qos(prefetch_count=1)
    say("ready")
    for method, props, body in ch.consume(given.queue, auto_ack=given.auto_ack):
        _traced(given.queue, props, len(body), given.name)
        say("got", body=decode(body, props.content_type))
        time.sleep(given.work_seconds)  # "working": the parent kills us here
        if not given.auto_ack:
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
    with progress_bar(desc="restarting rabbitmq") as bar:
        while thread.is_alive():
            thread.join(0.25)
            bar.refresh()
    if outcome:
        raise outcome[0]
    return time.perf_counter() - started


def own_broker(lab: Lab) -> None:
    """Raise at once when RabbitMQ is a class server's seat: a crash needs a broker of your own, and a
    cell that started its publishers first would wait for all of them before the refusal showed."""
    seat = getattr(lab.component(BROKER), "seat", "")
    if seat:
        raise LabError(f"this part crashes RabbitMQ, and yours is the class server's ({seat}), shared by "
                       "the class; run it with a broker of your own: unset LABS_CLASS and restart the kernel")


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
    args.whole("messages", messages, 1, MAX_MESSAGES)
    refused = 0
    with channel(target) as ch:
        fresh_queue(ch, queue, max_length=args.whole("room", room, 0, MAX_MESSAGES), reject_when_full=True)
        if confirms:
            ch.confirm_delivery()
        for number in range(messages):
            try:
                publish(ch, queue, {"n": number})
            except (NackError, UnroutableError):
                refused += 1
    ready, _ = queue_depth(target, queue) or (0, 0)
    return FullQueueTrial(confirms, messages, refused, ready)


if __name__ == "__main__":
    _consumer_process_main(sys.argv[1:])
