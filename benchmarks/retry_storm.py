"""`make bench`: the retry storm. How many calls reach a failing dependency per request, with naive
retries and with a retry budget.

The dependency is the lab's `users` service; a seeded fault rule fails `error_rate` of its
`GET /users/{user_id}` calls with 503, and the rule's `matched` counter (kept by the service
itself) says how many calls reached it. Each request tries up to 4 times, retrying at once (the
naive policy), or the same within a retry budget of 10% of requests (+3).

  one layer   the lesson's client calls users directly
  two layers  the client retries a middle layer (in this process) that itself retries users:
              the factors multiply

Figures: amplification = calls that reached users / requests made; success = requests answered.
LABS_BENCH_REQUESTS (default 200) requests per row.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

import labs  # noqa: E402
from labs.clients.faults import FaultRules  # noqa: E402
from labs import resilience as rz  # noqa: E402
from labs.lessons import resilience as rx  # noqa: E402

REQUESTS = int(os.environ.get("LABS_BENCH_REQUESTS", "200"))
ATTEMPTS = 4


def two_layers(lab, error_rate: float, budgeted: bool, seed: int = 5) -> dict:
    """Client -> middle -> users, each layer trying up to ATTEMPTS times (each layer its own budget)."""
    outer_budget = rz.RetryBudget(0.1) if budgeted else None
    inner_budget = rz.RetryBudget(0.1) if budgeted else None
    inner = rz.retrying(ATTEMPTS, base=0, jitter=False, retry_on=httpx.HTTPError, budget=inner_budget)
    outer = rz.retrying(ATTEMPTS, base=0, jitter=False, retry_on=httpx.HTTPError, budget=outer_budget)
    succeeded = 0
    with rx.users_client(lab) as client, FaultRules(lab, "users") as faults, \
            faults.injected(rx.USERS_ROUTE, error_rate=error_rate, http_status=503, seed=seed) as rule:
        for _ in range(REQUESTS):
            try:
                outer(inner, rx.get_user, client)
                succeeded += 1
            except httpx.HTTPError:
                pass
    return {"amplification": rule["matched"] / REQUESTS, "succeeded": succeeded}


def main() -> None:
    lab = labs.start("users", progress=False)
    print(f"retry storm: {REQUESTS} requests per row, up to {ATTEMPTS} attempts each, retries at once")
    print(f"{'layers':>6} {'error rate':>10} | {'naive: calls/request':>20} {'success':>8} | "
          f"{'budget 10%: calls/request':>25} {'success':>8}")
    for error_rate in (0.1, 0.3, 0.5, 1.0):
        naive = rx.retry_storm(lab, REQUESTS, ATTEMPTS, error_rate=error_rate)
        budgeted = rx.retry_storm(lab, REQUESTS, ATTEMPTS, budget=rz.RetryBudget(0.1), error_rate=error_rate)
        print(f"{1:>6} {error_rate:>10.0%} | {naive['amplification']:>19.2f}x {naive['succeeded'] / REQUESTS:>8.0%} | "
              f"{budgeted['amplification']:>24.2f}x {budgeted['succeeded'] / REQUESTS:>8.0%}")
    for error_rate in (0.5, 1.0):
        naive, budgeted = two_layers(lab, error_rate, False), two_layers(lab, error_rate, True)
        print(f"{2:>6} {error_rate:>10.0%} | {naive['amplification']:>19.2f}x {naive['succeeded'] / REQUESTS:>8.0%} | "
              f"{budgeted['amplification']:>24.2f}x {budgeted['succeeded'] / REQUESTS:>8.0%}")


if __name__ == "__main__":
    main()
