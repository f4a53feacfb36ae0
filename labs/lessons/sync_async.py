"""Lesson 03's two axes on real calls: what the caller does while it waits, and who takes the answer.

    blocking?     does the caller get control back before the answer arrives?
    synchronous?  does the caller take the answer itself (a return value, or asking "done yet?"),
                  or is the answer handed to code it registered (a callback, a resumed coroutine)?

    from labs.lessons import sync_async as sa
    client = httpx.Client(base_url=lab.endpoint("users")["http"])
    sa.sync_blocking(client)                 # plain httpx: the caller does nothing until the answer
    sa.sync_non_blocking(client, pool)       # a thread-pool future: the caller works and asks "done?"
    await sa.async_blocking(async_client)    # asyncio: the coroutine waits, the thread runs others
    sa.async_non_blocking(client, pool)      # a callback: the caller never waits for the answer
    sa.plot_timelines([...])

Also the availability arithmetic of a chain of synchronous calls (computed and simulated here,
measured on the ticketing services in the lesson).
"""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

import httpx

from ..runtime import args

clock = time.monotonic
WORK_S = 0.01  # one unit of the caller's "other work": a 10 ms busy loop
PATH = "/users/u1"


def work(seconds: float = WORK_S) -> None:
    """Keep the CPU busy for `seconds`: stands for whatever else the caller has to do."""
    end = clock() + seconds
    while clock() < end:
        pass


@dataclass
class Timeline:
    """What happened during one call, in seconds since it was sent."""
    quadrant: str
    started: float = field(default_factory=clock)
    answered_at: float = 0.0
    answer_taken_by: str = ""  # "the caller" or "a callback" / "the event loop"
    caller_work: list[tuple[float, float]] = field(default_factory=list)  # the caller's own code running
    other_work: list[tuple[float, float]] = field(default_factory=list)   # other tasks on the caller's thread
    polls: list[float] = field(default_factory=list)
    answer: Any = None

    def now(self) -> float:
        return clock() - self.started

    def work_while_waiting(self) -> int:
        """Units of the caller's own work that ran between sending and the answer."""
        return sum(1 for start, _ in self.caller_work if start < self.answered_at)

    def other_work_while_waiting(self) -> int:
        return sum(1 for start, _ in self.other_work if start < self.answered_at)

    @property
    def blocking(self) -> bool:
        return self.work_while_waiting() == 0

    @property
    def synchronous(self) -> bool:
        return self.answer_taken_by == "the caller"


def _timed_work(timeline: Timeline, into: list) -> None:
    start = timeline.now()
    work()
    into.append((start, timeline.now()))


def sync_blocking(client: httpx.Client, units_after: int = 5) -> Timeline:
    """Plain httpx: the call returns the answer; until then the caller's next line cannot run."""
    t = Timeline("sync + blocking")
    t.answer = client.get(PATH).json()
    t.answered_at, t.answer_taken_by = t.now(), "the caller"
    for _ in range(units_after):  # the caller's other work has to wait until after the answer
        _timed_work(t, t.caller_work)
    return t


def sync_non_blocking(client: httpx.Client, pool: ThreadPoolExecutor) -> Timeline:
    """A thread-pool future: submit returns at once; the caller works and keeps asking "done yet?",
    then takes the answer itself."""
    t = Timeline("sync + non-blocking")
    future = pool.submit(client.get, PATH)
    future.add_done_callback(lambda _: setattr(t, "answered_at", t.now()))
    while not future.done():
        t.polls.append(t.now())
        _timed_work(t, t.caller_work)
    t.answer = future.result().json()
    t.answer_taken_by = "the caller"
    return t


async def async_blocking(client: httpx.AsyncClient, others: int = 1) -> Timeline:
    """asyncio: the coroutine stops at `await` until the answer (blocking, for it), but the thread is
    free: the event loop runs other coroutines meanwhile, and hands the answer over by resuming it."""
    t = Timeline("async + blocking")
    answered = asyncio.Event()

    async def other_task() -> None:
        while not answered.is_set():
            _timed_work(t, t.other_work)
            await asyncio.sleep(0)  # let the loop look at the sockets between units

    others_running = [asyncio.create_task(other_task()) for _ in range(others)]
    response = await client.get(PATH)
    t.answered_at, t.answer_taken_by = t.now(), "the event loop"
    answered.set()
    await asyncio.gather(*others_running)
    t.answer = response.json()
    return t


def async_non_blocking(client: httpx.Client, pool: ThreadPoolExecutor, units: int = 60) -> Timeline:
    """A callback: the caller registers what to do with the answer and goes on with its work; it
    never waits for the answer, and never asks."""
    t = Timeline("async + non-blocking")
    handled = threading.Event()

    def on_answer(future: Future) -> None:  # runs on the pool's thread, not the caller's
        t.answered_at, t.answer_taken_by = t.now(), "a callback"
        t.answer = future.result().json()
        handled.set()

    pool.submit(client.get, PATH).add_done_callback(on_answer)
    for _ in range(units):
        _timed_work(t, t.caller_work)
    if not handled.wait(10):
        raise TimeoutError("the callback did not run within 10 s")
    return t


def plot_timelines(timelines: Sequence[Timeline], title: str = "what the caller did while its call was in flight"):
    """One row per quadrant: the request in flight, the caller's own work, other tasks' work, polls."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.8 * len(timelines)))
    for row, t in enumerate(reversed(timelines)):
        y = row * 1.0
        ax.broken_barh([(0, t.answered_at)], (y + 0.45, 0.3), color="tab:orange", alpha=0.6,
                       label="request in flight" if row == 0 else None)
        ax.broken_barh([(s, e - s) for s, e in t.caller_work], (y + 0.05, 0.35), color="tab:green",
                       label="caller's own work" if row == 0 else None)
        ax.broken_barh([(s, e - s) for s, e in t.other_work], (y + 0.05, 0.35), color="tab:blue",
                       label="other coroutines' work" if t.other_work else None)
        if t.polls:
            ax.scatter(t.polls, [y + 0.42] * len(t.polls), marker="|", color="black", s=40, label='"done yet?"')
        ax.annotate(f"answer → {t.answer_taken_by}", (t.answered_at, y + 0.6), xytext=(4, 6),
                    textcoords="offset points", fontsize=8)
    ax.set_yticks([row + 0.4 for row in range(len(timelines))], [t.quadrant for t in reversed(timelines)])
    ax.set_xlabel("seconds since the call was sent")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
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


def simulate_chain(per_call: float, calls: int, trials: int = 100_000, seed: int = 0) -> float:
    """The share of `trials` simulated requests whose `calls` calls all succeeded."""
    chain_availability(per_call, calls)  # same checks
    args.whole("trials", trials, 1, 10_000_000)
    import numpy as np  # a million draws: vectorised, or this cell would take seconds

    draws = np.random.default_rng(seed).random((trials, calls))
    return float((draws < per_call).all(axis=1).mean())


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
        ids = [(rules[service], rules[service].add(route, error_rate=error_rate, http_status=503, seed=seed + i))
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
