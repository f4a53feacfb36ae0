"""Lesson 09: a payments consumer that charges once, however often the broker delivers.

Layer: exercises.
"""
from __future__ import annotations

import uuid

from ..lessons import events, queues
from ..runtime import LabError
from ..tools.check import NotYet, register_exercise

QUEUE = "payments.exercise"
START, AMOUNT = 100, 30


@register_exercise("09.1", "make a consumer idempotent against redelivery", answer="charge",
                   needs=("rabbitmq", "redis"))
def check_idempotent_charge(charge, lab) -> str:
    if not callable(charge):
        raise NotYet("define a function `charge(db, payment)`")
    db = events.redis_client(lab)
    user = f"check-{uuid.uuid4().hex[:8]}"
    balance_key = f"balance:{user}"
    db.set(balance_key, START)
    try:
        balances = []
        # two different payments of the same amount, each delivered twice (a crash before the ack)
        for _ in range(2):
            payment = {"payment_id": f"p-{uuid.uuid4().hex[:8]}", "user": user, "amount": AMOUNT}
            deliveries = queues.redeliver_after_crash(lab, QUEUE, payment, lambda body: charge(db, body))
            if [d.redelivered for d in deliveries] != [False, True]:
                raise LabError(f"the check could not force a redelivery: {deliveries}")
            balances.append(int(db.get(balance_key)))
    finally:
        db.delete(balance_key)
    once, twice = START - AMOUNT, START - 2 * AMOUNT
    if balances[0] == START:
        raise NotYet(f"the payment was not charged at all: the balance stayed {START}")
    if balances[0] == twice:
        raise NotYet(f"one payment of {AMOUNT}, delivered twice, was charged twice (balance {twice}, expected "
                     f"{once}): remember which payment_id you have already charged")
    if balances[0] != once:
        raise NotYet(f"after one payment of {AMOUNT} the balance should be {once}, it is {balances[0]}")
    if balances[1] != twice:
        raise NotYet(f"a second, different payment of the same amount left the balance at {balances[1]}, not "
                     f"{twice}: tell payments apart by payment_id, not by user or amount")
    return (f"two payments of {AMOUNT}, each delivered twice, charged once each: balance "
            f"{START} -> {once} -> {twice}")
