"""Lesson 03's two axes, measured on real calls: what the caller does while it waits (blocking?), and
which thread reads the answer (synchronous?).

    blocking?     does the caller get control back before the answer arrives? Measured: units of
                  the caller's own work that ran while the call was in flight.
    synchronous?  does the caller receive the answer itself, as the return value of its own call?
                  Measured: the thread that read the answer off the connection (an httpx event
                  hook notes it) against the caller's thread. A Future or a callback means another
                  thread read it and handed it over: asynchronous.

    from labs.lessons import sync_async as sa
    client = httpx.Client(base_url=users_url, event_hooks={"response": [sa.note_reader]})
    t = sa.Timeline("sync + blocking")
    response = client.get("/users/u1"); t.answered(response); t.work(units=5)
    t.blocking, t.synchronous          # measured: (True, True)
    sa.plot_timelines([...]); sa.summary([...])

The demos themselves are written out in the lesson's cells; this module keeps the bookkeeping, the
plot and the availability arithmetic of a chain of synchronous calls (measured on the ticketing
services by measure_order_chain).

Layer: lessons.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..runtime import args

clock = time.monotonic
WORK_S = 0.01  # one unit of the caller's "other work": a 10 ms busy loop


def work(seconds: float = WORK_S) -> None:
    """Keep the CPU busy for `seconds`: stands for whatever else the caller has to do."""
    end = clock() + seconds
    while clock() < end:
        pass


def note_reader(response: Any) -> None:
    """An httpx response hook: note which thread read this answer, and when. It runs on the thread
    that did the reading, whoever asked for the call."""
    response.read_by, response.read_at = threading.get_ident(), clock()


@dataclass
class Timeline:
    """What happened during one call, in seconds since the Timeline was made (just before sending)."""
    quadrant: str
    started: float = field(default_factory=clock)
    caller: int = field(default_factory=threading.get_ident)  # the thread that made the call
    answered_at: float | None = None
    read_by: int | None = None        # the thread that read the answer off the connection
    taken_by: str = ""                # how the answer reached code: "return value", "Future", "callback"
    caller_work: list[tuple[float, float]] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def now(self) -> float:
        return clock() - self.started

    def work(self, units: int = 1) -> None:
        """Do `units` of the caller's own work (10 ms each), on the caller's thread, noted."""
        for _ in range(units):
            start = self.now()
            work()
            self.caller_work.append((start, self.now()))

    def poll(self) -> None:
        """The caller asked "is it there yet?" and was told no."""
        self.polls.append(self.now())

    def answered(self, response: Any = None, taken_by: str = "return value") -> None:
        """The answer is in. With an httpx response, when and on which thread it was read come from
        `note_reader`; without one (a raw socket read), it was read here and now."""
        if response is not None and hasattr(response, "read_by"):
            self.read_by, self.answered_at = response.read_by, response.read_at - self.started
        else:
            self.read_by, self.answered_at = threading.get_ident(), self.now()
        self.taken_by = taken_by
        self._done.set()

    def wait_for_answer(self, timeout: float = 10.0) -> "Timeline":
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.quadrant}: no answer within {timeout:g} s")
        return self

    def work_while_waiting(self) -> int:
        """Units of the caller's own work that started between sending and the answer."""
        if self.answered_at is None:
            raise ValueError(f"{self.quadrant}: the call has not been answered yet")
        return sum(1 for start, _ in self.caller_work if start < self.answered_at)

    @property
    def blocking(self) -> bool:
        """Measured: the caller did none of its own work while its call was in flight."""
        return self.work_while_waiting() == 0

    @property
    def synchronous(self) -> bool:
        """Measured: the answer was read on the caller's own thread, by its own call."""
        return self.read_by == self.caller


def summary(timelines: Sequence[Timeline]):
    """One row per demo: what was measured, and the quadrant it puts the demo in."""
    import pandas as pd

    return pd.DataFrame([{
        "demo": t.quadrant, "own work while waiting (10 ms units)": t.work_while_waiting(),
        "'not yet' answers": len(t.polls),
        "answer read on": "the caller's thread" if t.synchronous else "another thread",
        "handed over as": t.taken_by,
        "measured quadrant": f"{'sync' if t.synchronous else 'async'} + "
                             f"{'blocking' if t.blocking else 'non-blocking'}",
    } for t in timelines]).set_index("demo")


def plot_timelines(timelines: Sequence[Timeline], title: str = "what the caller did while its call was in flight"):
    """One row per demo: the request in flight, the caller's own work, its "not yet" polls."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.8 * len(timelines)))
    for row, t in enumerate(reversed(timelines)):
        y = row * 1.0
        ax.broken_barh([(0, t.answered_at or 0)], (y + 0.45, 0.3), color="tab:orange", alpha=0.6,
                       label="request in flight" if row == 0 else None)
        ax.broken_barh([(s, e - s) for s, e in t.caller_work], (y + 0.05, 0.35), color="tab:green",
                       label="caller's own work" if row == 0 else None)
        if t.polls:
            ax.scatter(t.polls, [y + 0.42] * len(t.polls), marker="|", color="black", s=40,
                       label='"not yet"')
        who = "caller's thread" if t.synchronous else "another thread"
        ax.annotate(f"answer read on the {who}, as a {t.taken_by}", (t.answered_at or 0, y + 0.6),
                    xytext=(4, 6), textcoords="offset points", fontsize=9)
    ax.set_yticks([row + 0.4 for row in range(len(timelines))], [t.quadrant for t in reversed(timelines)])
    ax.set_xlabel("seconds since the call was sent")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ---- availability of a chain of synchronous calls --------------------------------------------------

def _share(name: str, value: Any) -> float:
    args.number(name, value, 0, 1)
    return float(value)


def chain_availability(per_call: float, calls: int) -> float:
    """A request that needs `calls` synchronous calls to succeed, each available `per_call` of the
    time (independently): it succeeds per_call ** calls of the time."""
    _share("per_call", per_call)
    args.whole("calls", calls, 1, 10_000)
    return per_call ** calls


# The hops one order depends on synchronously (notifications is not among them: an order whose
# confirmation fails is still placed), as (service, route) for FaultRules.
ORDER_HOPS = (("users", "GET /users/{user_id}"), ("concerts", "POST /concerts/{concert_id}/reservations"),
              ("payments", "POST /payments"), ("users", "POST /users/{user_id}/debit"))


def measure_order_chain(lab: Any, error_rate: float, orders: int, seed: int = 1) -> dict[str, Any]:
    """Place `orders` real orders over REST with `error_rate` injected on each hop of ORDER_HOPS
    (seeded, so a run repeats): the share placed, next to the product of each hop's measured
    availability and the product rule's prediction from the error rate alone."""
    from ..clients.ticketing import RestTicketing, Unavailable
    from ..clients.faults import FaultRules

    _share("error_rate", error_rate)
    args.whole("orders", orders, 1, 100_000)
    rules = {name: FaultRules(lab, name) for name in {service for service, _ in ORDER_HOPS}}
    placed, counts = 0, []
    with RestTicketing(lab) as shop:
        shop.reset()
        status = {"http_status": 503} if error_rate else {}  # error_rate 0: a rule that only counts
        ids = [(rules[service], rules[service].add(route, error_rate=error_rate, seed=seed + i, **status))
               for i, (service, route) in enumerate(ORDER_HOPS)]
        try:
            for _ in range(orders):
                try:
                    shop.place_order("u1", "c1")
                    placed += 1
                except Unavailable:
                    pass
        finally:
            counts = [faults.remove(rule_id) for faults, rule_id in ids]
            for faults in rules.values():
                faults.close()
    # Each hop's availability as the services counted it (the draws are random, so not exactly
    # 1 - error_rate): the product rule is about these.
    per_hop = [1 - c["failed"] / c["matched"] if c["matched"] else 1.0 for c in counts]
    product = 1.0
    for share in per_hop:
        product *= share
    return {"hops": len(ORDER_HOPS), "per_hop_measured": per_hop, "predicted_from_hops": product,
            "predicted_from_error_rate": chain_availability(1 - error_rate, len(ORDER_HOPS)),
            "measured": placed / orders, "orders": orders}
