"""Lesson 11: rebuild a projection (every user's balance) by replaying the order log.

Layer: exercises.
"""
from __future__ import annotations

import uuid

from ..lessons import eventlog
from ..clients import kafka as lk
from ..tools.check import NotYet, register_exercise


@register_exercise("11.1", "rebuild a projection by replay", answer="rebuild_balances", needs=("kafka",))
def check_rebuild_balances(rebuild_balances, lab) -> str:
    if not callable(rebuild_balances):
        raise NotYet("define a function `rebuild_balances(lab, topic)` that returns a dict")
    topic = f"check-balances-{uuid.uuid4().hex[:8]}"
    lk.create_topic(lab, topic, partitions=3)
    office = eventlog.BoxOffice(lab, topic, component="check")
    try:
        # Another mix than the lesson's, with more cancellations: a projection that refunds
        # cancelled orders, or ignores some partitions, gets some balance wrong.
        events = eventlog.sample_workload(office, orders=30, cancel_every=3)
        truth = office.live_balances()
    finally:
        office.close()
    answer = rebuild_balances(lab, topic)
    if not isinstance(answer, dict):
        raise NotYet(f"return a dict {{user_id: balance}}, not {type(answer).__name__}")
    missing = sorted(set(truth) - set(answer))
    if missing:
        raise NotYet(f"your dict has no balance for {', '.join(missing)}: include every user of "
                     f"eventlog.STARTING_BALANCES, also those who ordered nothing")
    wrong = {u: (answer[u], truth[u]) for u in truth if answer[u] != truth[u]}
    if wrong:
        user, (yours, real) = next(iter(wrong.items()))
        cancelled = sum(e.type == "OrderCancelled" and e.user_id == user for e in events)
        hint = (" Did you give money back for cancelled orders? The box office keeps it."
                if cancelled and yours > real else "")
        raise NotYet(f"{len(wrong)} balance(s) differ from the live store, e.g. {user}: yours {yours}, "
                     f"live {real}.{hint}")
    placed = sum(e.type == "OrderPlaced" for e in events)
    return (f"all {len(truth)} balances match the live store, rebuilt from {len(events)} events "
            f"({placed} orders placed, {len(events) - placed} cancelled).")
