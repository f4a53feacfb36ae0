"""Making synchronous calls survivable: timeouts, retries, retry budgets, circuit breakers,
fallbacks and bulkheads, each small enough to read in one go, with what a lesson needs to plot them.

    from labs import resilience as rz
    retry = rz.retrying(attempts=4, base=0.1, budget=rz.RetryBudget(0.1))  # tenacity, within a budget
    retry(client.get, "/users/u1")
    log = rz.BreakerLog(); breaker.add_listener(log)             # a pybreaker breaker's states, noted
    rz.plot_breaker(log)
    with rz.Bulkhead("users", max_concurrent=4) as users_pool:  # a bounded pool per dependency
        users_pool.submit(client.get, "/users/u1").result()

Retries come from tenacity and the breaker from pybreaker (both well kept; lesson 03 writes its
policies with them in its cells). Neither has a retry budget nor a bulkhead, so those two are
written here, in a few lines each.

Layer: tools (imports tenacity and pybreaker; the lesson 03 experiments that use these policies on the
real services are in labs.lessons.resilience).
"""
from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pybreaker
import tenacity

from ..runtime import args

clock = time.monotonic
MAX_ATTEMPTS = 20
MAX_WAIT_S = 60.0
MAX_POOL = 256


# ---- retries ------------------------------------------------------------------------------------------

class full_jitter(tenacity.wait_exponential):
    """tenacity's wait_random_exponential (a wait drawn uniformly from 0 to base * 2**n, capped), with
    its own random generator, so a seeded run draws the same waits again."""

    def __init__(self, multiplier: float, max: float, seed: int | None = None):
        super().__init__(multiplier=multiplier, max=max)
        self.rng = random.Random(seed)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        return self.rng.uniform(0, super().__call__(retry_state))


class RetryBudget:
    """Retries may add at most `ratio` of the requests on top of them (plus `min_retries` so a quiet
    client can still retry at all). When a dependency fails for everyone, each caller's retries stop
    at the budget instead of multiplying the load on it (the retry storm). tenacity has no budget,
    hence this class; Envoy, Finagle and gRPC's retry throttling work the same way."""

    def __init__(self, ratio: float = 0.1, min_retries: int = 3):
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            raise ValueError(f"ratio must be a number from 0 to 1 (retries per request), got {ratio!r}")
        self.ratio, self.min_retries = float(ratio), args.whole("min_retries", min_retries, 0, 1000)
        self.requests = self.retries = self.refused = 0
        self._lock = threading.Lock()

    def record_request(self) -> None:
        with self._lock:
            self.requests += 1

    def try_spend(self) -> bool:
        """True (and counted) when one more retry fits the budget."""
        with self._lock:
            if self.retries < self.min_retries + self.ratio * self.requests:
                self.retries += 1
                return True
            self.refused += 1
            return False

    def __repr__(self) -> str:
        return f"<RetryBudget {self.ratio:.0%}: {self.retries} retries for {self.requests} requests, {self.refused} refused>"


@dataclass
class AttemptLog:
    """When each attempt started, as (seconds since `started`, attempt number starting at 1), and
    when each was due by the policy's own waits: (the waits the retry policy chose before it, added
    up, attempt number). The due times depend on the policy alone; the start times also on how
    quickly a busy machine wakes each thread."""
    label: str = "attempts"
    started: float = field(default_factory=clock)
    attempts: list[tuple[float, int]] = field(default_factory=list)
    due: list[tuple[float, int]] = field(default_factory=list)

    def record(self, attempt_number: int) -> None:
        self.attempts.append((clock() - self.started, attempt_number))

    def times_of(self, attempt_number: int) -> list[float]:
        return [t for t, n in self.attempts if n == attempt_number]

    def due_of(self, attempt_number: int) -> list[float]:
        return [t for t, n in self.due if n == attempt_number]


def retrying(attempts: int = 4, base: float = 0.1, cap: float = 5.0, jitter: bool = True,
             retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
             budget: RetryBudget | None = None, log: AttemptLog | None = None,
             seed: int | None = None) -> tenacity.Retrying:
    """A tenacity policy: up to `attempts` tries, waiting base*2**n seconds (capped at `cap`) between
    them, drawn uniformly from 0 to that with `jitter` ("full jitter"), retrying only `retry_on`
    errors and only while `budget` allows. Call it: `retrying(...)(fn, *args)`; the last error is
    re-raised when every attempt failed."""
    args.whole("attempts", attempts, 1, MAX_ATTEMPTS)
    args.seconds("base", base, 0, MAX_WAIT_S)
    args.seconds("cap", cap, 0, MAX_WAIT_S)

    def should_retry(state: tenacity.RetryCallState) -> bool:
        if not state.outcome.failed or not isinstance(state.outcome.exception(), retry_on):
            return False
        if state.attempt_number >= attempts:  # no attempt left: do not spend budget on it
            return False
        return budget is None or budget.try_spend()

    def before(state: tenacity.RetryCallState) -> None:
        if budget is not None and state.attempt_number == 1:
            budget.record_request()
        if log is not None:
            log.record(state.attempt_number)

    wait = (full_jitter(base, cap, seed) if jitter else tenacity.wait_exponential(multiplier=base, max=cap))
    return tenacity.Retrying(stop=tenacity.stop_after_attempt(attempts), wait=wait, retry=should_retry,
                             before=before, reraise=True)


# ---- circuit breaker ----------------------------------------------------------------------------------

STATES = ("closed", "half-open", "open")


class BreakerLog(pybreaker.CircuitBreakerListener):
    """A pybreaker listener that notes each state change and counts the calls the breaker let
    through; a caller that knows when it called adds each call's outcome ("ok", "failed", or
    "rejected" without reaching the dependency) to `.calls`, for plot_breaker.

        breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=0.3)
        log = BreakerLog(); breaker.add_listener(log)"""

    def __init__(self) -> None:
        self.started = clock()
        self.states: list[tuple[float, str]] = [(0.0, "closed")]
        self.calls: list[tuple[float, str]] = []
        self.let_through = 0

    def before_call(self, cb, func, *args, **kwargs) -> None:  # pybreaker: a call goes through
        self.let_through += 1

    def state_change(self, cb, old_state, new_state) -> None:  # pybreaker: closed/open/half-open
        self.states.append((clock() - self.started, new_state.name))

    def count(self, outcome: str, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for t, o in self.calls if o == outcome and since <= t < until)

    def states_seen(self) -> list[str]:
        return [s for _, s in self.states]


# ---- bulkhead -----------------------------------------------------------------------------------------

class BulkheadFull(RuntimeError):
    """The dependency's pool is busy and its waiting room full: refused at once instead of queueing."""


class Bulkhead:
    """A bounded pool for the calls to one dependency: at most `max_concurrent` run and `max_waiting`
    wait; more are refused with BulkheadFull. One slow dependency can then tie up its own threads
    only, never the ones other calls need. (No maintained Python library offers this; a thread pool
    and a semaphore are all it takes.)"""

    def __init__(self, name: str, max_concurrent: int, max_waiting: int = 0):
        self.name = name
        self.max_concurrent = args.whole("max_concurrent", max_concurrent, 1, MAX_POOL)
        self.max_waiting = args.whole("max_waiting", max_waiting, 0, 100_000)
        self._slots = threading.BoundedSemaphore(max_concurrent + max_waiting)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix=f"bulkhead-{name}")
        self.refused = 0

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            raise BulkheadFull(f"{self.name}: {self.max_concurrent} calls running and {self.max_waiting} waiting")
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Bulkhead":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- numbers a lesson quotes ---------------------------------------------------------------------------

def spread_ms(times: Sequence[float]) -> float:
    """Standard deviation of start times, in ms: how far apart attempts that were due together landed."""
    if len(times) < 2:
        raise ValueError("spread needs at least two times")
    mean = sum(times) / len(times)
    return (sum((t - mean) ** 2 for t in times) / (len(times) - 1)) ** 0.5 * 1e3


def percentile_ms(seconds: Sequence[float], q: float = 0.99) -> float:
    if not seconds:
        raise ValueError("no durations")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3


# ---- plots --------------------------------------------------------------------------------------------

def plot_attempts(logs: Sequence[AttemptLog], title: str = "when each client's attempts started"):
    """One row of dots per policy; colour = attempt number. Lockstep retries line up in columns."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(logs), 1, figsize=(8, 1.1 + 1.3 * len(logs)), sharex=True, squeeze=False)
    for ax, log in zip(axes[:, 0], logs):
        rng = random.Random(0)  # vertical scatter only, so dots that coincide stay visible
        numbers = sorted({n for _, n in log.attempts})
        for n in numbers:
            ts = log.times_of(n)
            ax.scatter(ts, [rng.uniform(-0.3, 0.3) for _ in ts], s=16, label=f"attempt {n}")
        ax.set_yticks([])
        ax.set_ylabel(log.label, rotation=0, ha="right", va="center")
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    axes[-1, 0].set_xlabel("seconds since the clients started")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def plot_breaker(breaker: BreakerLog, faults: Sequence[tuple[float, float]] = (),
                 title: str = "circuit breaker state while the dependency fails"):
    """The breaker's state as a step line over time, each call as a dot (green ok, red failed,
    grey rejected without a network call), and the fault windows shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    level = {s: i for i, s in enumerate(STATES)}
    end = max([t for t, _ in breaker.calls] + [t for t, _ in breaker.states]) + 0.05
    xs = [t for t, _ in breaker.states] + [end]
    ys = [level[s] for _, s in breaker.states] + [level[breaker.states[-1][1]]]
    ax.step(xs, ys, where="post", color="black", lw=2, label="breaker state")
    colours = {"ok": "tab:green", "failed": "tab:red", "rejected": "tab:gray"}
    for outcome, colour in colours.items():
        ts = [t for t, o in breaker.calls if o == outcome]
        ax.scatter(ts, [level["closed"] - 0.35] * len(ts), s=10, color=colour, label=f"call {outcome}")
    for i, (since, until) in enumerate(faults):
        ax.axvspan(since, until, color="tab:red", alpha=0.1, label="dependency failing" if i == 0 else None)
    ax.set_yticks(range(len(STATES)), STATES)
    ax.set_ylim(-0.6, len(STATES) - 0.5)
    ax.set_xlabel("seconds")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    fig.tight_layout()
    return fig
