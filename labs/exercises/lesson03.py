"""Lesson 03: wrap a call with a timeout, a retry policy and a circuit breaker so it meets a budget
under a seeded fault schedule.

Layer: exercises.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..tools.check import NotYet, register_exercise

DURATION_S = 3.2
EVERY_S = 0.02                  # a call every 20 ms (at once when the previous one took longer)
OUTAGE = (0.8, 1.8)             # seconds from the start: users fails every call
RECOVERY = (1.8, 2.5)           # not counted: 0.7 s for a breaker to close again
ERROR_RATE = 0.2                # transient 503s on every call
STALLED_SHARE = 0.1             # connections whose answers are held back STALL_MS
STALL_MS = 2000
SEED = 31
BUDGET = {"success": 0.9, "p99_ms": 1000, "outage_share": 0.5}
ROUTE = "GET /users/{user_id}"


def run_schedule(protect: Callable[[Callable[[float | None], dict]], Callable[[], Any]], lab: Any) -> dict[str, Any]:
    """Call `protect(get_user)()` every EVERY_S for DURATION_S seconds on the fault schedule (its
    faults are seeded: the same sequence of 503s and of stalled connections each run); what the budget
    is measured on."""
    import httpx

    from ..clients.faults import FaultRules
    from ..clients import chaos

    proxy = chaos.proxy(lab, "users", name="users-exercise-03-1", seed=SEED)
    proxy.add("latency", latency=STALL_MS, toxicity=STALLED_SHARE)
    client = httpx.Client(base_url=proxy.url_for(), headers={"Connection": "close"})  # a new connection per call

    def get_user(timeout: float | None) -> dict:
        response = client.get("/users/u1", timeout=timeout)
        response.raise_for_status()
        return response.json()

    rules = FaultRules(lab, "users")
    transient = rules.add(ROUTE, error_rate=ERROR_RATE, http_status=503, seed=SEED)
    outage, reached_in_outage, outage_done = None, 0, False
    outcomes: list[tuple[float, bool, float]] = []  # (start, succeeded, seconds), from the start
    try:
        call = protect(get_user)
        if not callable(call):
            raise NotYet("protect(get_user) must return a function of no arguments that makes one protected call")
        started = time.monotonic()
        planned = 0.0
        while (now := time.monotonic() - started) < DURATION_S:
            if outage is None and not outage_done and OUTAGE[0] <= now < OUTAGE[1]:
                outage = rules.add(ROUTE, error_rate=1.0, http_status=503)
            elif outage is not None and now >= OUTAGE[1]:
                reached_in_outage, outage, outage_done = rules.remove(outage)["matched"], None, True
            time.sleep(max(0.0, planned - now))
            planned = max(planned, now) + EVERY_S
            began = time.monotonic()
            try:
                call()
                ok = True
            except Exception:
                ok = False
            outcomes.append((began - started, ok, time.monotonic() - began))
    finally:
        if outage is not None:
            rules.remove(outage)
        rules.remove(transient)
        rules.close()
        proxy.clear()
        client.close()
    # Counted: calls wholly outside the outage and the recovery after it.
    counted = [ok for at, ok, took in outcomes if at + took < OUTAGE[0] or at >= RECOVERY[1]]
    seconds = sorted(s for _, _, s in outcomes)
    return {"success": sum(counted) / max(1, len(counted)), "calls": len(outcomes),
            "p99_ms": seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))] * 1e3,
            "reached_in_outage": reached_in_outage,
            "outage_calls": sum(1 for at, _, _ in outcomes if OUTAGE[0] <= at < OUTAGE[1])}


@register_exercise("03.1", "a timeout, a retry policy and a breaker within a budget", answer="protect",
                   needs=("users",))
def check_protect(protect, lab) -> str:
    if not callable(protect):
        raise NotYet("define a function `protect(get_user)` that returns a function of no arguments")
    got = run_schedule(protect, lab)
    shown = (f"success {got['success']:.1%} of the counted calls, p99 {got['p99_ms']:.0f} ms, "
             f"{got['reached_in_outage']} calls reached users during the {got['outage_calls']}-call outage")
    problems = []
    if got["success"] < BUDGET["success"]:
        problems.append(f"success {got['success']:.1%} is below {BUDGET['success']:.0%}: retry what fails for a "
                        "moment (a 503, a timeout)")
    if got["p99_ms"] > BUDGET["p99_ms"]:
        problems.append(f"p99 {got['p99_ms']:.0f} ms is above {BUDGET['p99_ms']} ms: some answers stall for "
                        f"{STALL_MS} ms; give up on them sooner (a timeout) and try again")
    if got["reached_in_outage"] > BUDGET["outage_share"] * got["outage_calls"]:
        problems.append(f"{got['reached_in_outage']} calls reached users while it was down, more than "
                        f"{BUDGET['outage_share']:.0%} of the {got['outage_calls']} calls made then: a breaker should "
                        "stop calling it (mind where it sits relative to the retries)")
    if problems:
        raise NotYet("; ".join(problems) + f" (measured: {shown})")
    return shown
