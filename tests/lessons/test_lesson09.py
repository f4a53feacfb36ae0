"""Lesson 09's loss / no-loss checks prove durability and confirms: with either switched off they fail.

Every setup publishes before ONE broker restart (a restart costs ~10 s), then each is counted. The
claims below are the lesson's own (notebooks/09-message-queues.ipynb, "Surviving a broker restart").
"""
import pytest

from labs import check
from labs.clients import rabbit
from labs.lessons import queues
from labs.tools.check import ClaimNotShown

N = 300
ACCEPTANCE = 10_000
SETUPS = {  # name: (durable queue, persistent messages, publisher confirms)
    "safe": (True, True, True),
    "queue not durable": (False, True, True),
    "messages not persistent": (True, False, True),
    "no confirms": (True, True, False),
    "transient": (False, False, False),
}


@pytest.fixture(scope="module")
def after_restart(brokers):
    trials = {name: queues.publish_before_restart(brokers, f"t.restart.{i}", N, durable=d, persistent=p, confirms=c)
              for i, (name, (d, p, c)) in enumerate(SETUPS.items())}
    with rabbit.channel(brokers) as ch:
        rabbit.fresh_queue(ch, "t.restart.acceptance", durable=True)
    confirmed = rabbit.publish_streaming_confirms(brokers, "t.restart.acceptance",
                                                  [{"n": n} for n in range(ACCEPTANCE)], persistent=True)
    seconds = queues.restart_broker(brokers)
    for trial in trials.values():
        queues.count_after_restart(brokers, trial)
    acceptance = rabbit.drain(brokers, "t.restart.acceptance")
    yield trials, confirmed, acceptance, seconds
    with rabbit.channel(brokers) as ch:
        for trial in list(trials.values()):
            ch.queue_delete(trial.queue)
        ch.queue_delete("t.restart.acceptance")


def lesson_claims(safe: queues.DurabilityTrial) -> None:
    check.claim("the broker confirmed every message of the safe setup before the restart", safe.confirmed, equals=N)
    check.claim("durable queue + persistent messages + confirms: 0 lost across the restart", safe.lost, equals=0)


def test_the_safe_setup_loses_nothing_and_the_transient_one_everything(after_restart):
    trials, *_ = after_restart
    lesson_claims(trials["safe"])
    check.claim("non-durable queue, transient messages, no confirms: every message lost",
                trials["transient"].lost, equals=N)


@pytest.mark.parametrize("switched_off", ["queue not durable", "messages not persistent", "no confirms"])
def test_the_no_loss_claims_fail_when_one_mechanism_is_switched_off(after_restart, switched_off):
    trials, *_ = after_restart
    with pytest.raises(ClaimNotShown):
        lesson_claims(trials[switched_off])


def test_what_each_switch_costs(after_restart):
    trials, *_ = after_restart
    assert trials["queue not durable"].survived == 0       # the queue itself is gone
    assert trials["messages not persistent"].survived == 0  # the queue is back, empty
    assert trials["no confirms"].confirmed == 0             # the publisher was never told "stored"


def test_ten_thousand_confirmed_persistent_messages_survive_a_restart_exactly_once(after_restart):
    _, confirmed, acceptance, seconds = after_restart
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
