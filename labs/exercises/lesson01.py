"""Lesson 01: predict what an order costs from what one hop costs, then let the check measure both.

The answer is a function of the hop's time, `predict_order_ms(hop_ms)`. The check measures a hop,
asks for a prediction, measures orders, and compares; then it asks again for a hop twice as slow.
A prediction computed from the hop follows it; one that is a constant, or an order timed on the
side and returned whatever the hop, does not, and is sent back.

Layer: exercises.
"""
from __future__ import annotations

import statistics
import time

from ..tools.check import NotYet, register_exercise

CALLS = 40
FACTOR = 3.0      # a prediction within 3x of the measured order is a good one for a chain model
FOLLOWS = 1.5     # a hop twice as slow must raise the prediction at least this much


def _interleaved(hop, order) -> tuple[float, float]:
    """Median ms of a hop and of an order, timed in turns: on a busy machine (other programs, a CI
    run) both then meet the same load, and their ratio holds even when each time does not."""
    hops, orders = [], []
    for call in (hop, order) * 3:  # connections open, code warm
        call()
    for _ in range(CALLS):
        for call, into in ((hop, hops), (order, orders)):
            started = time.perf_counter()
            call()
            into.append((time.perf_counter() - started) * 1e3)
    return statistics.median(hops), statistics.median(orders)


@register_exercise("01.1", "predict a call chain, then measure it", answer="predict_order_ms",
                   needs=("orders",))
def check_predict_order_ms(predict_order_ms, lab) -> str:
    from ..clients.ticketing import RestTicketing

    if not callable(predict_order_ms):
        raise NotYet("define a function `predict_order_ms(hop_ms)` that returns milliseconds")

    def predicted(hop_ms: float) -> float:
        try:
            value = float(predict_order_ms(hop_ms))
        except NotImplementedError:
            raise NotYet("predict_order_ms still raises NotImplementedError: return a number") from None
        except (TypeError, ValueError):
            raise NotYet("predict_order_ms must return a number of milliseconds") from None
        if not value > 0:
            raise NotYet(f"predict_order_ms({hop_ms:.3g}) returned {value!r}: an order takes some time")
        return value

    with RestTicketing(lab) as rest:
        rest.reset()
        hop, order = _interleaved(lambda: rest.get_user("u1"), lambda: rest.place_order("u1", "c1"))
    prediction = predicted(hop)
    slower = predicted(2 * hop)
    if slower < FOLLOWS * prediction:
        raise NotYet(f"for a hop of {hop:.2f} ms you predict {prediction:.3g} ms, and for a hop twice as "
                     f"slow {slower:.3g} ms: a prediction computed from the hop grows with it. How many "
                     "hops, one after another, does one order wait for?")
    if not prediction / FACTOR <= order <= prediction * FACTOR:
        off = order / prediction
        raise NotYet(f"one hop measured {hop:.2f} ms, you predicted {prediction:.3g} ms, an order measured "
                     f"{order:.3g} ms: {off:.1f}x your prediction. Count the calls in the trace, nested "
                     "ones included")
    why = (" The rest is work inside the services: each hop between them also serves a request."
           if order > 1.2 * prediction else "")
    return (f"one hop {hop:.2f} ms, you predicted {prediction:.1f} ms, an order measured {order:.1f} ms "
            f"({order / prediction:.2f}x your prediction).{why}")
