"""Lesson 10: a new subscriber joins without the publisher changing.

Layer: exercises.
"""
from __future__ import annotations

import uuid

from pika.exceptions import ChannelClosedByBroker

from ..clients import rabbit
from ..lessons import events
from ..tools.check import NotYet, register_exercise

EXCHANGE = "orders.completed"
EXISTING = ("notifications", "settlement")
EVENTS = 3


@register_exercise("10.1", "add a subscriber without touching the publisher", answer="subscribe_inventory",
                   needs=("rabbitmq",))
def check_new_subscriber(subscribe_inventory, lab) -> str:
    if not callable(subscribe_inventory):
        raise NotYet("define a function `subscribe_inventory(ch)` that returns the name of its queue")
    with rabbit.channel(lab) as ch:
        events.declare_fanout(ch, EXCHANGE)
        old = [events.subscribe(ch, EXCHANGE, service) for service in EXISTING]
    with rabbit.channel(lab) as ch:  # the inventory service's own connection ...
        queue = subscribe_inventory(ch)
    # ... closed now: the inventory service is offline while the events are published
    if not isinstance(queue, str) or not queue:
        raise NotYet(f"subscribe_inventory should return its queue's name, got {queue!r}")
    if queue in old:
        raise NotYet(f"{queue!r} belongs to another service: competing for its queue would steal half its "
                     "events; give inventory a queue of its own")
    if rabbit.queue_depth(lab, queue) is None:
        raise NotYet(f"queue {queue!r} was gone once the inventory service disconnected: an exclusive or "
                     "auto-delete queue cannot keep events for a subscriber that is offline")
    try:
        with rabbit.channel(lab) as ch:
            ch.queue_declare(queue, durable=True)
    except ChannelClosedByBroker as exc:
        if "durable" in str(exc):
            raise NotYet(f"queue {queue!r} is not durable: a broker restart would drop it with its events") from None
        raise
    with rabbit.channel(lab) as ch:
        ch.queue_purge(queue)
        sent = [f"o-{uuid.uuid4().hex[:8]}" for _ in range(EVENTS)]
        for order_id in sent:  # the lesson's publisher, unchanged
            events.publish_event(ch, EXCHANGE, {"order_id": order_id})
    got = {q: [d.body.get("order_id") for d in rabbit.drain(lab, q, idle_seconds=0.3)] for q in old + [queue]}
    if got[queue] != sent:
        raise NotYet(f"inventory's queue got {len(got[queue])} of {EVENTS} events: is it bound to the "
                     f"{EXCHANGE!r} exchange?")
    for q in old:
        if got[q] != sent:
            raise NotYet(f"{q} got {len(got[q])} of {EVENTS} events after your change; the old subscribers must "
                         "keep receiving every event")
    return (f"{EVENTS} events published while inventory was offline reached notifications, settlement and "
            f"inventory ({queue!r}); the publisher did not change")
