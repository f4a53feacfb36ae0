"""Lesson 10's claims hold only through the mechanism they name: Redis pub/sub really drops what nobody
hears, and the fanout claim fails when a subscriber's queue does not outlive its connection."""
import pytest

from labs import check
from labs.clients import rabbit
from labs.lessons import events
from labs.tools.check import ClaimNotShown

EXCHANGE = "t.orders.completed"


def test_redis_pub_sub_loses_what_is_published_while_a_subscriber_is_away(brokers):
    r = events.redis_client(brokers)
    with events.RedisSubscriber(brokers, "t.l10", "settlement") as settlement:
        events.publish_redis(r, "t.l10", {"n": 0})
        assert settlement.wait_for(1)
    while_offline = [events.publish_redis(r, "t.l10", {"n": n}) for n in range(1, 11)]
    with events.RedisSubscriber(brokers, "t.l10", "settlement") as back:
        events.publish_redis(r, "t.l10", {"n": 11})
        assert back.wait_for(1)
    missed = set(range(12)) - {e["n"] for e in settlement.received + back.received}
    check.claim("settlement lost every event published while it was away: 10 of 10", len(missed), equals=10)
    assert while_offline == [0] * 10


def _offline_then_back(brokers, subscribe_settlement):
    """The lesson's fanout scenario with settlement's queue made by `subscribe_settlement(ch)`."""
    with rabbit.channel(brokers) as ch:
        events.declare_fanout(ch, EXCHANGE)
        queue = subscribe_settlement(ch)
    # settlement's connection is closed: it is offline while the events are published
    with rabbit.channel(brokers) as ch:
        for n in range(5):
            events.publish_event(ch, EXCHANGE, {"order_id": f"o-{n}"})
    return (rabbit.queue_depth(brokers, queue) or (0, 0))[0]


def test_a_durable_queue_per_service_keeps_the_events_of_an_offline_subscriber(brokers):
    waiting = _offline_then_back(brokers, lambda ch: events.subscribe(ch, EXCHANGE, "settlement"))
    check.claim("while settlement was offline its queue kept all 5 events", waiting, equals=5)
    rabbit.drain(brokers, events.service_queue(EXCHANGE, "settlement"))


def test_the_fanout_claim_fails_when_the_subscriber_s_queue_dies_with_its_connection(brokers):
    def exclusive_queue(ch):  # how a pub/sub client often subscribes: a private, temporary queue
        queue = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(queue, EXCHANGE)
        return queue

    waiting = _offline_then_back(brokers, exclusive_queue)
    with pytest.raises(ClaimNotShown):
        check.claim("while settlement was offline its queue kept all 5 events", waiting, equals=5)


def test_a_late_subscriber_gets_only_what_is_published_after_it_binds(brokers):
    with rabbit.channel(brokers) as ch:
        events.declare_fanout(ch, EXCHANGE)
        events.publish_event(ch, EXCHANGE, {"order_id": "early"})
        late = events.subscribe(ch, EXCHANGE, "inventory")
        events.publish_event(ch, EXCHANGE, {"order_id": "late"})
    assert [d.body["order_id"] for d in rabbit.drain(brokers, late)] == ["late"]
    with rabbit.channel(brokers) as ch:
        ch.exchange_delete(EXCHANGE)
        ch.queue_delete(late)


def test_the_topic_claim_holds_and_fails_when_the_exchange_fans_out_instead(brokers):
    from lesson_cells import code_cell

    route, claim = code_cell("10-event", "patterns = {"), code_cell("10-event", "exactly the events its pattern")
    scope = {"lab": brokers, "rabbit": rabbit, "check": check}
    exec(route + "\n" + claim, scope)  # as in the lesson
    fanout = route.replace('exchange_type="topic"', 'exchange_type="fanout"')  # every queue gets everything
    assert fanout != route
    with pytest.raises(ClaimNotShown, match="exactly the events its pattern matches"):
        exec(fanout + "\n" + claim, scope)
    with rabbit.channel(brokers) as ch:
        ch.exchange_delete("orders")
        for service in scope["patterns"]:
            ch.queue_delete(f"orders.{service}")
