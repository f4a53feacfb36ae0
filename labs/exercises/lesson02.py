"""Lesson 02: make a flaky call reliable without duplicating side effects."""
from __future__ import annotations


from ..lessons import fallacies
from ..clients import chaos
from ..tools.check import NotYet, register_exercise

ORDERS = 15
SEED = 11  # a fixed fault schedule: every learner's function meets the same lost requests and answers


@register_exercise("02.1", "make a flaky call reliable without charging twice", answer="reliable_order",
                   needs=("orders", "chaos"))
def check_reliable_order(reliable_order, lab) -> str:
    if not callable(reliable_order):
        raise NotYet("define a function `reliable_order(client)` that returns the order as a dict")
    proxy = chaos.proxy(lab, "orders", name="orders-exercise-02", seed=SEED)
    proxy.add("reset_peer", timeout=0, toxicity=0.2, name="request lost")
    proxy.add("limit_data", bytes=10, toxicity=0.2, name="answer lost")
    before = fallacies.balance(lab)
    returned, raised = [], []
    try:
        with fallacies.new_connection_per_call(proxy.url_for()) as client:
            for _ in range(ORDERS):
                try:
                    returned.append(reliable_order(client))
                except Exception as exc:  # the learner's code may raise anything: report it
                    raised.append(exc)
    finally:
        proxy.clear()
    charged = fallacies.tickets_charged(lab, before)
    if raised:
        kinds = sorted({type(e).__name__ for e in raised})
        raise NotYet(f"{len(raised)} of {ORDERS} calls raised ({', '.join(kinds)}) and were charged anyway "
                     f"({charged} tickets paid for {ORDERS - len(raised)} returned orders): catch "
                     "httpx.TransportError and try again")
    if not all(isinstance(o, dict) and "id" in o for o in returned):
        raise NotYet("return the order: the JSON body of the 201 answer, a dict with an 'id'")
    if charged > ORDERS:
        raise NotYet(f"the customer paid for {charged} tickets but wanted {ORDERS}: some retries placed a new "
                     "order. Send an Idempotency-Key header, the same for every attempt at one order")
    if len({o["id"] for o in returned}) != ORDERS or charged != ORDERS:
        raise NotYet(f"{ORDERS} calls returned {len({o['id'] for o in returned})} distinct orders and "
                     f"{charged} tickets were charged: each call must place one new order")
    stats = proxy.stats()
    return (f"{ORDERS} orders placed through {stats['resets']} resets and {stats['limited']} lost answers, "
            f"{charged} tickets charged: none twice.")
