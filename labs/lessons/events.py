"""Event brokers for lesson 10: Redis pub/sub (fire and forget) and a RabbitMQ fanout exchange into
one durable queue per subscribing service (the SNS+SQS pattern).

Layer: lessons (imports labs.clients.rabbit, the runtime and redis-py).

    import labs
    from labs.clients import rabbit
    from labs.lessons import events
    lab = labs.start("rabbitmq", "redis")

    r = events.redis_client(lab)
    with events.RedisSubscriber(lab, "orders.completed", "notifications") as sub:
        events.publish_redis(r, "orders.completed", {"order_id": "o-1"})   # -> 1 (receivers)
        sub.wait_for(1)

    with rabbit.channel(lab) as ch:
        events.declare_fanout(ch, "orders.completed")
        queue = events.subscribe(ch, "orders.completed", "settlement")      # "orders.completed.settlement"
        events.publish_event(ch, "orders.completed", {"order_id": "o-1"})
    rabbit.drain(lab, queue)

Redis pub/sub messages carry no headers, so `labs.trace` records only the AMQP side.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import redis
from pika.adapters.blocking_connection import BlockingChannel

from ..clients import rabbit
from ..runtime import Lab, LabError
from ..runtime.waiting import poll_until


def redis_url(target: Lab | dict | str) -> str:
    """The redis:// URL of the lab's Redis, from a Lab, an endpoint dict or a URL."""
    if isinstance(target, Lab):
        if "redis" not in target.names:
            raise LabError(f"this lab has no redis (it has: {', '.join(target.names) or 'nothing'}); "
                           "start one with labs.start('redis')")
        target = target.endpoint("redis")
    if isinstance(target, dict):
        target = target.get("url")
    if not isinstance(target, str) or not target.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected a Lab, an endpoint dict with 'url', or a redis:// URL, got {target!r}")
    return target


def redis_client(target: Lab | dict | str) -> redis.Redis:
    """A Redis client that hands back str rather than bytes."""
    return redis.Redis.from_url(redis_url(target), decode_responses=True, socket_timeout=5)


def _check_channel(name: object) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 200 or not name.isprintable():
        raise ValueError(f"a channel name is 1-200 printable characters, got {name!r}")
    return name


def publish_redis(client: redis.Redis, channel: str, event: Any) -> int:
    """PUBLISH an event (a dict travels as JSON); returns how many subscribers received it:
    Redis keeps nothing, so 0 means the event is gone."""
    channel = _check_channel(channel)
    return int(client.publish(channel, json.dumps(event)))


class RedisSubscriber:
    """A subscriber to one Redis channel in a daemon thread; `received` lists the events it got.

    Online from start() (returns once Redis has confirmed the subscription) until stop(): what is
    published in between reaches it, anything published while it is offline does not.
    """

    def __init__(self, target: Lab | dict | str, channel: str, name: str = "subscriber") -> None:
        self.client = redis_client(target)
        self.channel = _check_channel(channel)
        self.name = str(name)
        self.received: list[Any] = []
        self._pubsub = self.client.pubsub()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"redis-sub-{self.name}", daemon=True)

    def start(self, timeout: float = 5.0) -> "RedisSubscriber":
        self._pubsub.subscribe(self.channel)
        confirmed = self._pubsub.get_message(timeout=timeout)  # the "subscribe" reply
        if not confirmed or confirmed.get("type") != "subscribe":
            raise LabError(f"Redis did not confirm the subscription to {self.channel!r}")
        self._thread.start()
        return self

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.05)
            except (redis.ConnectionError, ValueError):
                return  # closed under us by stop()
            if message and message.get("type") == "message":
                self.received.append(json.loads(message["data"]))

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        return poll_until(lambda: len(self.received) >= count, timeout)

    def stop(self) -> None:
        """Go offline: unsubscribe and close the connection. Returns once Redis has confirmed the
        UNSUBSCRIBE, so an event published next no longer counts this subscriber (a bare close
        reaches the server a moment later when a proxy, such as Docker's port forwarder, is between)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        try:
            self._pubsub.unsubscribe(self.channel)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                message = self._pubsub.get_message(timeout=0.1)
                if message and message.get("type") == "message":  # delivered before it went offline
                    self.received.append(json.loads(message["data"]))
                elif message and message.get("type") == "unsubscribe":
                    break
        except (redis.ConnectionError, ValueError):
            pass  # the connection is already gone: nothing to confirm
        self._pubsub.close()
        self.client.close()

    def __enter__(self) -> "RedisSubscriber":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisSubscriber {self.name} on {self.channel!r}: {len(self.received)} received>"


# ---------------------------------------------------------------- fanout into per-service queues


def declare_fanout(ch: BlockingChannel, exchange: str, *, fresh: bool = True) -> str:
    """A durable *fanout* exchange: every queue bound to it gets a copy of every event. (RabbitMQ's
    "topic" exchange type is another thing: it routes by pattern; lesson 10 declares one in pika.)
    fresh=True deletes it first (and with it every binding), so a cell can be run twice."""
    rabbit.check_name(exchange, "exchange", declaring=True)
    if fresh:
        ch.exchange_delete(exchange)
    ch.exchange_declare(exchange, exchange_type="fanout", durable=True)
    return exchange


def service_queue(exchange: str, service: str) -> str:
    return rabbit.check_name(f"{exchange}.{service}", declaring=True)


def subscribe(ch: BlockingChannel, exchange: str, service: str, *, fresh: bool = True) -> str:
    """Give `service` a durable queue of its own, bound to the exchange; returns the queue's name.
    The queue keeps the service's events while the service is offline."""
    queue = service_queue(exchange, service)
    if fresh:
        rabbit.fresh_queue(ch, queue, durable=True)
    else:
        ch.queue_declare(queue, durable=True)
    ch.queue_bind(queue, exchange)
    return queue


def publish_event(ch: BlockingChannel, exchange: str, event: Any, *, sender: str = "orders") -> None:
    """Publish one persistent event to the exchange; the publisher names no subscriber."""
    rabbit.publish(ch, "", event, exchange=exchange, persistent=True, sender=sender)
