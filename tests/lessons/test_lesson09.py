"""Lesson 09's checks prove what each setting buys: flip the setting (or the world) and they fail.

The restart and crash claims run here exactly as the notebook states them (its own cells, found by
a line they contain), on data from the notebook's own `publish`: once as the lesson sets things up,
once with one setting flipped. Every world is published before ONE clean restart (a restart costs
~10 s), and one SIGKILL crash covers confirms on and off.
"""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pika
import pytest
from lesson_cells import code_cell, run_cells

from labs import check
from labs.clients import rabbit
from labs.lessons import queues
from labs.runtime import LabError
from labs.tools.check import ClaimNotShown

N = 300
ACCEPTANCE = 10_000
PUBLISH = "def publish(queue: str"
RESTART_CLAIMS = "the queue came back, empty"
CRASH_CLAIMS = "without confirms the crash lost"
SETUPS = {  # the lesson's three setups, and the world with the one setting each is about flipped
    "durable queue, transient messages": ({"durable": True, "persistent": False}, {"persistent": True}),
    "persistent messages, queue not durable": ({"durable": False, "persistent": True}, {"durable": True}),
    "durable queue, persistent messages": ({"durable": True, "persistent": True}, {"persistent": False}),
}


def _publisher(brokers):
    return run_cells("09-message", [PUBLISH], pika=pika, json=json,
                     amqp=brokers.endpoint("rabbitmq")["amqp"])["publish"]


def _claims(marker: str, **scope) -> None:
    exec(code_cell("09-message", marker), {"check": check, **scope})


def _depth(brokers, queue):
    return (rabbit.queue_depth(brokers, queue) or ["queue gone"])[0]


@pytest.fixture(scope="module")
def after_restart(brokers):
    publish = _publisher(brokers)
    for number, (flags, flipped) in enumerate(SETUPS.values()):
        publish(f"t.restart.{number}", N, confirm=False, **flags)
        publish(f"t.flipped.{number}", N, confirm=False, **{**flags, **flipped})
    # No crash: both publishers finish before the broker stops (cleanly).
    finished = {"without confirms": publish("t.nocrash.0", N, durable=True, persistent=True, confirm=False),
                "with confirms": publish("t.nocrash.1", N, durable=True, persistent=True, confirm=True)}
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, "t.restart.acceptance", durable=True)
    confirmed = rabbit.publish_streaming_confirms(brokers, "t.restart.acceptance",
                                                  [{"n": n} for n in range(ACCEPTANCE)], persistent=True)
    seconds = queues.restart_broker(brokers)
    found = {setup: _depth(brokers, f"t.restart.{n}") for n, setup in enumerate(SETUPS)}
    flipped = {setup: _depth(brokers, f"t.flipped.{n}") for n, setup in enumerate(SETUPS)}
    no_crash = {label: _depth(brokers, f"t.nocrash.{n}") for n, label in enumerate(finished)}
    acceptance = rabbit.drain(brokers, "t.restart.acceptance")
    yield found, flipped, (finished, no_crash), (confirmed, acceptance, seconds)
    with rabbit.channel(brokers) as ch:
        for queue in [f"t.{kind}.{n}" for kind in ("restart", "flipped", "nocrash") for n in range(3)]:
            ch.queue_delete(queue)
        ch.queue_delete("t.restart.acceptance")


def test_the_restart_claims_hold_as_the_lesson_sets_things_up(after_restart):
    found, *_ = after_restart
    _claims(RESTART_CLAIMS, found=found, N=N)


@pytest.mark.parametrize("setup", list(SETUPS))
def test_each_restart_claim_fails_when_its_setting_is_flipped(after_restart, setup):
    found, flipped, *_ = after_restart
    with pytest.raises(ClaimNotShown):
        _claims(RESTART_CLAIMS, found={**found, setup: flipped[setup]}, N=N)


def test_the_crash_claim_fails_without_a_crash_mid_stream(after_restart):
    """Without confirms, a publisher that finished before a clean stop lost nothing: the lesson's
    loss is the crash hitting messages in flight, not a broker that always loses."""
    _, _, (counted_as_sent, after), _ = after_restart
    assert after == counted_as_sent == {"without confirms": N, "with confirms": N}
    with pytest.raises(ClaimNotShown, match="without confirms the crash lost"):
        _claims(CRASH_CLAIMS, counted_as_sent=counted_as_sent, after_crash=after)


def test_the_crash_claims_hold_with_confirms_and_fail_when_confirms_are_off(brokers):
    publish = _publisher(brokers)
    worlds = {"without confirms": False, "with confirms": True, "confirms off": False}
    with ThreadPoolExecutor(len(worlds)) as publishers:
        running = {label: publishers.submit(publish, f"t.crash.{n}", 10**6, durable=True, persistent=True,
                                            confirm=confirm) for n, (label, confirm) in enumerate(worlds.items())}
        time.sleep(1)
        brokers.kill("rabbitmq")
        counted_as_sent = {label: run.result() for label, run in running.items()}
    queues.restart_broker(brokers)
    after_crash = {label: _depth(brokers, f"t.crash.{n}") for n, label in enumerate(worlds)}
    with rabbit.channel(brokers) as ch:
        for n in range(len(worlds)):
            ch.queue_delete(f"t.crash.{n}")
    _claims(CRASH_CLAIMS, counted_as_sent=counted_as_sent, after_crash=after_crash)
    # The world without confirms in the "with confirms" place: it counted socket writes as sent.
    off = {"without confirms": counted_as_sent["without confirms"], "with confirms": counted_as_sent["confirms off"]}
    with pytest.raises(ClaimNotShown, match="no message the broker had confirmed was lost"):
        _claims(CRASH_CLAIMS, counted_as_sent=off,
                after_crash={**after_crash, "with confirms": after_crash["confirms off"]})


def test_ten_thousand_confirmed_persistent_messages_survive_a_restart_exactly_once(after_restart):
    *_, (confirmed, acceptance, seconds) = after_restart
    assert (confirmed.published, confirmed.acked, confirmed.nacked) == (ACCEPTANCE, ACCEPTANCE, 0)
    assert len(acceptance) == ACCEPTANCE
    assert {d.body["n"] for d in acceptance} == set(range(ACCEPTANCE))
    assert 0 < seconds < 120


def test_the_redelivery_claim_fails_with_auto_ack(brokers):
    crash = queues.kill_consumer_mid_message(brokers, "t.autoack", {"payment_id": "p-1"}, auto_ack=True)
    with pytest.raises(ClaimNotShown):
        check.claim("the broker gave p-1 to payments-2, flagged as redelivered",
                    (crash.redelivered_to, crash.redelivered_flag), equals=("payments-2", True))


def test_the_fairness_claim_fails_without_a_prefetch_limit(brokers):
    dealt = queues.share_work(brokers, "t.fair", 40, {"slow": 0.04, "fast": 0.002}, prefetch=0)
    with pytest.raises(ClaimNotShown):
        check.claim("with prefetch=1 the fast worker handled at least twice as many as the slow one",
                    dealt.handled["fast"] / dealt.handled["slow"], at_least=2, unit="x")


def test_the_naive_consumer_charges_a_redelivered_payment_twice(brokers):
    from labs.lessons import events
    db = events.redis_client(brokers)
    db.set("balance:t-naive", 100)
    queues.redeliver_after_crash(brokers, "t.naive", {"payment_id": "p", "user": "t-naive", "amount": 30},
                                 lambda p: db.decrby(f"balance:{p['user']}", p["amount"]))
    assert int(db.get("balance:t-naive")) == 40


def test_the_broker_crash_is_refused_at_once_on_a_class_seat():
    """On a class seat the crash cell must stop before its publishers start: otherwise it would wait
    for both to send their 10**6 messages before lab.kill's refusal showed."""
    class OnASeat:
        seat = "seat 07 of workshop"

    class SeatedLab:
        def component(self, name):
            return OnASeat()

    with pytest.raises(LabError, match="unset LABS_CLASS"):
        queues.own_broker(SeatedLab())
