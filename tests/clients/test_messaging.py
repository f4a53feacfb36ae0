"""labs.clients.rabbit and labs.lessons.events: argument checks without a broker, then each delivery guarantee on the
lab's real RabbitMQ and Redis."""
import os
import signal
import subprocess
import sys
import uuid

import psutil
import pytest

from labs import trace
from labs.clients import rabbit
from labs.lessons import events, queues
from labs.runtime import LabError
from labs.runtime.waiting import poll_until


def _name(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


# --- without a broker -----------------------------------------------------------------

@pytest.mark.parametrize("bad, fragment", [
    ("http://127.0.0.1:5672", "amqp:// URL"),
    ({"url": "redis://x"}, "'amqp'"),
    (5672, "amqp:// URL"),
])
def test_amqp_url_refuses_what_is_not_an_amqp_address(bad, fragment):
    with pytest.raises(ValueError, match=fragment):
        rabbit.amqp_url(bad)


def test_redis_url_refuses_what_is_not_a_redis_address():
    assert events.redis_url({"url": "redis://127.0.0.1:1/0"}) == "redis://127.0.0.1:1/0"
    with pytest.raises(ValueError, match="redis:// URL"):
        events.redis_url("amqp://127.0.0.1:1")


@pytest.mark.parametrize("kwargs, fragment", [
    ({"name": "amq.mine"}, "not starting with 'amq.'"),
    ({"name": "has space"}, "1-200 characters"),
    ({"name": "q", "delivery_limit": 3}, "needs quorum=True"),
    ({"name": "q", "quorum": True, "delivery_limit": -1}, "delivery_limit must be a whole number from 0 to 1000"),
    ({"name": "q", "max_length": 10**9}, "max_length must be a whole number from 0 to 100000"),
    ({"name": "q", "dead_letter_to": ""}, "dead-letter queue name"),
])
def test_fresh_queue_names_the_allowed_values(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        rabbit.fresh_queue(None, **kwargs)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"prefetch": -1}, "prefetch must be a whole number from 0 to 65535"),
    ({"prefetch": True}, "prefetch must be"),
    ({"work_seconds": 61}, "work_seconds must be a number of seconds from 0 to 60"),
])
def test_worker_names_the_allowed_values(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        rabbit.Worker("amqp://guest:guest@127.0.0.1:1/%2F", "q", **kwargs)


def test_bodies_round_trip_and_other_types_are_refused():
    for body in ({"a": 1}, [1, 2], "text", b"\x00raw"):
        assert rabbit.decode(*rabbit.encode(body)) == body
    with pytest.raises(TypeError, match="dict, list, str or bytes"):
        rabbit.encode(3.5)


def test_share_work_and_publish_redis_check_their_arguments():
    with pytest.raises(ValueError, match="messages must be a whole number from 1 to 100000"):
        queues.share_work("amqp://x", "q", 0, {"a": 0})
    with pytest.raises(ValueError, match="at least one worker"):
        queues.share_work("amqp://x", "q", 5, {})
    with pytest.raises(ValueError, match="1-200 printable characters"):
        events.publish_redis(None, "", {})


def test_a_broker_that_does_not_answer_is_named_with_the_way_back():
    from labs.runtime import free_port
    with pytest.raises(LabError, match="does not answer.*labs.start\\('rabbitmq'\\)"):
        rabbit.connect(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")


def test_a_lab_without_the_broker_is_named():
    import labs
    lab = labs.start("redis", progress=False)
    with pytest.raises(LabError, match="labs.start\\('rabbitmq'\\)"):
        rabbit.amqp_url(lab)


# --- on the lab's brokers --------------------------------------------------------------

def test_each_message_goes_to_exactly_one_of_the_competing_consumers(brokers):
    split = queues.share_work(brokers, _name("t.share"), 200, {"a": 0, "b": 0, "c": 0}, prefetch=5)
    assert (split.duplicates, split.missing) == (0, 0)
    assert sum(split.handled.values()) == 200 and min(split.handled.values()) > 0


def test_prefetch_one_gives_the_fast_worker_most_of_the_work(brokers):
    dealt = queues.share_work(brokers, _name("t.pf"), 40, {"slow": 0.02, "fast": 0.0}, prefetch=0)
    on_demand = queues.share_work(brokers, _name("t.pf"), 40, {"slow": 0.02, "fast": 0.0}, prefetch=1)
    assert dealt.handled == {"slow": 20, "fast": 20}
    assert on_demand.handled["fast"] >= 3 * on_demand.handled["slow"]


def test_a_killed_consumer_s_message_is_redelivered_only_with_manual_ack(brokers):
    queue = _name("t.crash")
    with trace.record("crash", settle=2) as run:
        kept = queues.kill_consumer_mid_message(brokers, queue, {"id": 1})
    lost = queues.kill_consumer_mid_message(brokers, queue, {"id": 2}, auto_ack=True)
    assert (kept.killed_consumer_got, kept.back_in_queue, kept.redelivered_to, kept.redelivered_flag) == \
        ({"id": 1}, 1, "payments-2", True)
    assert (lost.killed_consumer_got, lost.back_in_queue, lost.redelivered_to) == ({"id": 2}, 0, None)
    # the killed process wrote its consume span before it died
    assert [(s["caller"], s["callee"], s["operation"]) for s in run.spans] == [
        ("orders", "rabbitmq", f"publish {queue}"), ("rabbitmq", "payments-1", f"consume {queue}"),
        ("rabbitmq", "payments-2", f"consume {queue}")]


def test_a_consumer_process_exits_when_its_parent_is_killed(brokers):
    script = ("import sys; from labs.lessons import queues; "
              "p = queues.start_consumer_process(sys.argv[1], 't.orphan', 'orphan'); "
              "print(p.pid, flush=True); import time; time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script, rabbit.amqp_url(brokers)], stdout=subprocess.PIPE,
                              text=True)
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert poll_until(lambda: not psutil.pid_exists(child_pid) or
                             psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE, 10)


def test_redeliver_after_crash_hands_the_same_message_over_twice(brokers):
    handled = []
    got = queues.redeliver_after_crash(brokers, _name("t.redeliver"), {"payment_id": "p"}, handled.append)
    assert handled == [{"payment_id": "p"}] * 2
    assert [(d.consumer, d.redelivered) for d in got] == [("payments-1", False), ("payments-2", True)]


def test_confirms_report_what_a_full_queue_refuses(brokers):
    queue = _name("t.full")
    blind = queues.publish_into_full_queue(brokers, queue, 30, room=5, confirms=False)
    told = queues.publish_into_full_queue(brokers, queue, 30, room=5, confirms=True)
    assert (blind.refused, blind.in_queue) == (0, 5)
    assert (told.refused, told.in_queue) == (25, 5)


def test_streaming_confirms_count_every_ack(brokers):
    queue = _name("t.stream")
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, queue, durable=True)
    count = rabbit.publish_streaming_confirms(brokers, queue, [{"n": n} for n in range(2000)], window=100)
    assert (count.published, count.acked, count.nacked) == (2000, 2000, 0)
    assert rabbit.queue_depth(brokers, queue) == (2000, 0)
    with rabbit.channel(brokers) as ch:
        ch.queue_delete(queue)


def test_a_poison_message_is_dead_lettered_after_the_delivery_limit(brokers):
    queue, dead = _name("t.work"), _name("t.dead")
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, dead, durable=True)
        rabbit.fresh_queue(ch, queue, quorum=True, delivery_limit=2, dead_letter_to=dead)
        rabbit.publish(ch, queue, {"ok": True})
        rabbit.publish(ch, queue, {"ok": False})

    def handle(delivery):
        if not delivery.body["ok"]:
            raise ValueError("poison")

    with rabbit.Worker(brokers, queue, "w", handler=handle) as worker:
        assert rabbit.wait_for_messages(brokers, dead, 1)
    (letter,) = rabbit.drain(brokers, dead)
    assert (len(worker.received), worker.failures) == (1, 3)
    assert letter.body == {"ok": False} and letter.headers["x-first-death-reason"] == "delivery_limit"


def test_one_queue_one_consumer_keeps_publish_order(brokers):
    queue = _name("t.fifo")
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, queue)
        for n in range(300):
            rabbit.publish(ch, queue, {"n": n})
    assert [d.body["n"] for d in rabbit.drain(brokers, queue)] == list(range(300))


def test_request_reply_matches_by_correlation_id_and_ignores_strays(brokers):
    queue = _name("t.rpc")
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, queue)
    with rabbit.Worker(brokers, queue, "server", handler=lambda d: {"double": 2 * d.body["x"]}), \
            rabbit.RpcClient(brokers, queue) as client:
        assert [client.call({"x": x})["double"] for x in range(10)] == [2 * x for x in range(10)]
        rabbit.publish(client.channel, client.reply_queue, {"double": -1}, correlation_id="nobody-asked")
        assert client.call({"x": 21}) == {"double": 42}
        assert client.ignored == 1
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, queue)
    with rabbit.RpcClient(brokers, queue) as client, pytest.raises(TimeoutError, match="is a server consuming"):
        client.call({"x": 1}, timeout=0.3)


def test_redis_pub_sub_reaches_every_subscriber_and_forgets_the_absent(brokers):
    channel = _name("t.events")
    r = events.redis_client(brokers)
    with events.RedisSubscriber(brokers, channel, "a") as a, events.RedisSubscriber(brokers, channel, "b") as b:
        assert [events.publish_redis(r, channel, {"n": n}) for n in range(5)] == [2] * 5
        assert a.wait_for(5) and b.wait_for(5)
    assert events.publish_redis(r, channel, {"n": 5}) == 0  # nobody listens: gone
    with events.RedisSubscriber(brokers, channel, "a") as late:
        events.publish_redis(r, channel, {"n": 6})
        assert late.wait_for(1)
    assert [e["n"] for e in late.received] == [6]


def test_fanout_into_per_service_queues_keeps_events_for_an_offline_service(brokers):
    exchange = _name("t.topic")
    with rabbit.channel(brokers) as ch:
        events.declare_fanout(ch, exchange)
        online, offline = (events.subscribe(ch, exchange, s) for s in ("online", "offline"))
    with rabbit.Worker(brokers, online, "online") as worker:
        with trace.record("fanout", settle=2) as run, rabbit.channel(brokers) as ch:
            for n in range(3):
                events.publish_event(ch, exchange, {"n": n})
        assert worker.wait_for(3)
    assert rabbit.queue_depth(brokers, offline) == (3, 0)
    assert [d.body["n"] for d in rabbit.drain(brokers, offline)] == [0, 1, 2]
    operations = [s["operation"] for s in run.spans]
    assert operations.count(f"publish {exchange}") == 3 and operations.count(f"consume {online}") == 3
    with rabbit.channel(brokers) as ch:
        ch.exchange_delete(exchange)
        ch.queue_delete(online)
        ch.queue_delete(offline)


def test_restart_broker_needs_the_lab_and_streaming_confirms_name_a_dead_broker():
    from labs.runtime import free_port
    with pytest.raises(TypeError, match="the Lab from labs.start"):
        queues.restart_broker("amqp://guest:guest@127.0.0.1:1/%2F")
    with pytest.raises(LabError, match="could not connect to RabbitMQ"):
        rabbit.publish_streaming_confirms(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F", "q", [{"n": 1}])
    with pytest.raises(ValueError, match="window must be a whole number from 1 to 65535"):
        rabbit.publish_streaming_confirms("amqp://x", "q", [], window=0)
