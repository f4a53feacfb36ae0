"""The saga services' side of RabbitMQ: one topic exchange, one durable queue per service bound to the
routing keys it cares about, persistent messages published with confirms and the trace header.

Layer: components (pika and the tracing hooks; the kernel's side of RabbitMQ is labs.clients.rabbit).

    declare(ch, "shop-1a2b", {"payments": ["seat.reserved"], ...})   # exchange, queues, bindings
    link = Link(url, exchange, service="payments")                    # two channels on one connection
    link.publish("payment.charged", body, trace=header)               # returns once RabbitMQ has it
    for method, props, body in link.deliveries(queue, idle=0.2): ...  # (None, None, None) when idle

A topic exchange routes on the routing key: a queue bound with "seat.reserved" gets every message
published with that key, whoever published it. That one table of bindings is all the wiring there is
in choreography; in orchestration the same exchange carries commands (cmd.<service>.<action>) and
replies (reply.<service>.<action>).
"""
from __future__ import annotations

import json
import time
from typing import Any, Iterator

import pika
from pika.exceptions import AMQPError

from ... import tracing

BROKER = "rabbitmq"
# How long a service keeps trying when RabbitMQ goes away: long enough for a slow restart. The lesson
# learns that the broker is down at once (Shop.check_alive asks it), not from the services giving up.
RECONNECT_S = 120.0
BROKER_GONE = (AMQPError, OSError)


class BrokerGone(RuntimeError):
    """RabbitMQ could not be reached for RECONNECT_S seconds; the message says how to bring it back."""


def declare(ch: Any, exchange: str, bindings: dict[str, list[str]]) -> dict[str, str]:
    """A durable topic exchange and, per service, a durable queue `<exchange>.<service>` bound to
    each of its routing keys. Returns {service: queue}. Declaring again changes nothing."""
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    queues = {}
    for service, keys in bindings.items():
        queue = f"{exchange}.{service}"
        ch.queue_declare(queue, durable=True)
        for key in keys:
            ch.queue_bind(queue, exchange, routing_key=key)
        queues[service] = queue
    return queues


def remove(ch: Any, exchange: str, services: list[str]) -> None:
    """Delete the exchange and the services' queues (with whatever they still hold)."""
    for service in services:
        ch.queue_delete(f"{exchange}.{service}")
    ch.exchange_delete(exchange)


def where(url: str) -> str:
    return url.split("@")[-1].split("/")[0]


def connect(url: str, give_up_after: float = RECONNECT_S) -> pika.BlockingConnection:
    """A blocking connection, retried for `give_up_after` seconds (a broker that is restarting)."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            params = pika.URLParameters(url)
            params.heartbeat = 30
            return pika.BlockingConnection(params)
        except BROKER_GONE as exc:
            if time.monotonic() >= deadline:
                raise BrokerGone(f"RabbitMQ at {where(url)} does not answer ({type(exc).__name__}); if it was "
                                 "stopped or killed, labs.start('rabbitmq') starts it again on the same address, "
                                 "and the saga's messages wait in its durable queues") from exc
            time.sleep(0.25)


class Link:
    """One connection of a service: a channel in confirm mode to publish, one to consume."""

    def __init__(self, url: str, exchange: str, service: str, prefetch: int = 50) -> None:
        self.url, self.exchange, self.service = url, exchange, service
        self.connection = connect(url)
        self.out = self.connection.channel()
        self.out.confirm_delivery()  # basic_publish returns once the broker has stored the message
        self.inbound = self.connection.channel()
        self.inbound.basic_qos(prefetch_count=prefetch)

    def publish(self, routing_key: str, body: dict, trace: Any = None) -> None:
        """Publish one persistent message; inside `trace` (a header or context) it is a traced span."""
        data = json.dumps(body).encode()
        headers: dict[str, Any] = {}
        with tracing.continue_trace(trace, component=self.service):
            tracing.record_message("amqp", routing_key, "publish", broker=BROKER, headers=headers, size=len(data),
                                   component=self.service)
        props = pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                     headers=headers or None, message_id=body.get("msg_id"))
        self.out.basic_publish(self.exchange, routing_key, data, props, mandatory=False)

    def deliveries(self, queue: str, idle: float = 0.2) -> Iterator[tuple[Any, Any, bytes | None]]:
        """Messages of `queue` as they arrive; (None, None, None) after `idle` seconds without one."""
        return self.inbound.consume(queue, inactivity_timeout=idle)

    def consumed(self, method: Any, props: Any, body: bytes) -> tuple[dict, tracing.TraceContext | None]:
        """The message, and the trace context to handle it in (a consume span when it carries a trace)."""
        ctx = tracing.record_message("amqp", method.routing_key, "consume", broker=BROKER, headers=props.headers,
                                     size=len(body), component=self.service)
        return json.loads(body), ctx

    def ack(self, method: Any) -> None:
        self.inbound.basic_ack(method.delivery_tag)

    def requeue(self, method: Any) -> None:
        """Give the message back (as a lost ack would): the broker delivers it again, redelivered=True."""
        self.inbound.basic_nack(method.delivery_tag, requeue=True)

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:  # already gone with the broker
            pass


def header_of(ctx: tracing.TraceContext | None) -> str | None:
    """The trace header to store with an outbox row, so the relay's publish joins the same trace."""
    return None if ctx is None else tracing.format_header(ctx.trace_id, ctx.span_id, ctx.component)
