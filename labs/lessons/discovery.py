"""Lesson 07's plumbing: callers that keep calling while instances die and move, the clocks that
time a removal, and the plots. The mechanisms themselves (lease, watch, balancing, DNS) are written
out in the notebook; `labs.clients.registry` has the same code for the checks and the benchmark.

Layer: lessons.

    with discovery.Caller(pool.next, retry_next=True) as caller:     # GET /concerts, 100 calls/s
        killed_at = discovery.kill(replica)                          # SIGKILL; when it happened
        removal = discovery.wait_removed(etcd, key, since=killed_at)   # seconds until the key went
    caller.failed(), caller.per_address()
    trials = discovery.removal_vs_ttl(lab, ttls=(2, 4))          # processes with leases, killed at once
    discovery.plot_removal(trials)
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from ..clients import registry
from ..clients.faults import FaultRules
from ..components.registry.agent import check_ttl
from ..runtime import args
from ..runtime.child import Child
from ..runtime.progress import bar

SRV_NAME = "_http._tcp.concerts.default.svc.cluster.local"


@dataclass
class Call:
    t: float          # time.time() when it was sent
    address: str      # where it went (the last address tried, with a retry)
    outcome: str      # "ok", "503", "ConnectError", ...
    tries: int = 1

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _outcome(client: httpx.Client, url: str) -> str:
    try:
        response = client.get(url)
    except httpx.TransportError as exc:
        return type(exc).__name__
    return "ok" if response.status_code < 500 else str(response.status_code)


def try_calls(pick: str | Callable[[], str], n: int = 10, path: str = "/concerts") -> Counter:
    """`n` calls of GET `path`, each on the address `pick` gives (or always on `pick`, a URL):
    how many ended how ({"ok": 7, "ConnectError": 3})."""
    args.whole("n", n, 1, 100_000)
    choose = pick if callable(pick) else (lambda: pick)
    with httpx.Client(timeout=1.0) as client:
        return Counter(_outcome(client, choose() + path) for _ in range(n))


@dataclass
class Caller:
    """GET `path` `rate` times a second in a thread, each call on the address `pick()` returns; with
    `retry_next`, a failed call is tried once more on the next address `pick()` gives that is not the
    one that failed (one retry)."""
    pick: Callable[[], str]
    rate: float = 100.0
    retry_next: bool = False
    path: str = "/concerts"
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        args.number("rate", self.rate, 1, 1000, " calls per second")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="caller", daemon=True)

    def _one(self, client: httpx.Client) -> Call:
        sent, failed_on = time.time(), None
        for tries in (1, 2):
            try:
                address = self.pick()
                for _ in range(3):  # the next instance: not the one that just failed
                    if address != failed_on:
                        break
                    address = self.pick()
            except (LookupError, ZeroDivisionError):  # nothing registered
                return Call(sent, "", "no instance", tries)
            outcome = _outcome(client, address + self.path)
            if outcome == "ok" or not self.retry_next:
                break
            failed_on = address
        return Call(sent, address, outcome, tries)

    def _run(self) -> None:
        interval = 1.0 / self.rate
        with httpx.Client(timeout=1.0) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self.calls.append(self._one(client))
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> "Caller":
        self._thread.start()
        return self

    def stop(self, tail: float = 0.2) -> "Caller":
        """Go on for `tail` s more (calls after the event count too), then stop."""
        time.sleep(tail)
        self._stop.set()
        self._thread.join()
        return self

    def __enter__(self) -> "Caller":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def failed(self, since: float | None = None, until: float | None = None) -> int:
        return sum(1 for c in self.calls if not c.ok and (since is None or c.t >= since)
                   and (until is None or c.t <= until))

    def per_address(self) -> Counter:
        return Counter(c.address for c in self.calls if c.ok)

    def per_thousand(self) -> float:
        return 1000 * self.failed() / max(1, len(self.calls))

    def __repr__(self) -> str:
        outcomes = Counter(c.outcome for c in self.calls)
        return f"<Caller: {len(self.calls)} calls, {dict(outcomes)}>"


def kill(replica: Any) -> float:
    """SIGKILL one instance, as a crash would; returns when (time.time())."""
    at = time.time()
    replica.kill()
    return at


def key_of(replica: Any) -> str:
    """The registry key an instance registers under."""
    return registry.key_for("concerts", replica.endpoint["http"])


def wait_removed(etcd: registry.Registry, key: str, since: float, timeout: float = 90.0) -> float:
    """Seconds from `since` until `key` is gone from the registry (checked every 20 ms)."""
    deadline = time.monotonic() + args.positive_seconds("timeout", timeout, 600)
    with bar(desc=f"waiting for the registry to drop {key}"):
        while etcd.get(key):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} is still registered {timeout:g} s later")
            time.sleep(0.02)
    return time.time() - since


def pause_until(moment: float, why: str) -> None:
    """Sleep until time.time() reaches `moment`, with a timer that says why."""
    with bar(desc=why):
        time.sleep(max(0.0, moment - time.time()))


def graceful_move(etcd: registry.Registry, replica: Any) -> tuple[float, float]:
    """Move one instance to new ports (SIGTERM: it deregisters, drains and exits; then it starts
    again elsewhere) while timing its old key's removal: (seconds until the key went, seconds the
    whole move took)."""
    key, started = key_of(replica), time.time()
    mover = threading.Thread(target=replica.restart, kwargs={"new_ports": True})
    mover.start()
    removal = wait_removed(etcd, key, started)
    with bar(desc=f"{replica.name} starting again on new ports"):
        mover.join()
    return removal, time.time() - started


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, since: float | None = None) -> float:
    """Seconds from `since` (default: now) until `condition()` holds, checked every 5 ms;
    TimeoutError after `timeout`."""
    started = time.time() if since is None else since
    deadline = time.monotonic() + args.positive_seconds("timeout", timeout, 600)
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still not so after {timeout:g} s")
        time.sleep(0.005)
    return time.time() - started


def faults_of(replica: Any) -> FaultRules:
    """The fault rules of one instance of concerts (FaultRules asks a lab for the address)."""
    class _OneInstance:
        def endpoint(self, name: str) -> dict[str, str]:
            return replica.endpoint
    return FaultRules(_OneInstance(), "concerts")


# ---- lease TTL against removal time ----------------------------------------------------------------

@dataclass
class RemovalTrial:
    ttl: int
    removal_s: float


def removal_vs_ttl(lab: Any, ttls: tuple[int, ...] = (2, 4)) -> list[RemovalTrial]:
    """One process per TTL registers a (made-up) instance with a lease of that TTL and keeps it alive;
    all are SIGKILLed at the same moment; each key's removal is timed."""
    ttls = tuple(check_ttl(t) for t in ttls)
    etcd = registry.connect(lab)
    url = lab.endpoint("etcd")["url"]
    children = [Child("labs.components.registry.registrant", url, "ttl-demo", f"http://127.0.0.1:{9000 + n}",
                      "--ttl", ttl, name=f"lease-{ttl}s") for n, ttl in enumerate(ttls)]
    try:
        keys = [child.wait_for("registered")["key"] for child in children]
        killed_at = time.time()
        for child in children:
            child.kill()
        trials = []
        with bar(total=len(ttls), desc="leases running out", unit="key") as progress:
            for ttl, key in zip(ttls, keys):
                trials.append(RemovalTrial(ttl, wait_removed(etcd, key, killed_at)))
                progress.update(1)
        return trials
    finally:
        for child in children:
            child.kill()


def plot_removal(trials: list[RemovalTrial], killed_instance: tuple[int, float] | None = None):
    """Removal time against TTL, with the line removal = TTL and the band a refresh every TTL/3 allows."""
    import matplotlib.pyplot as plt

    ttls = [t.ttl for t in trials]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    top = max(ttls) + 1
    ax.plot([0, top], [0, top], color="#888", ls="--", label="removal = TTL")
    ax.fill_between([0, top], [0, 2 * top / 3], [0, top], color="#ccc", alpha=0.4,
                    label="where a refresh every TTL/3 puts it")
    ax.scatter(ttls, [t.removal_s for t in trials], s=60, zorder=3, label="processes killed at once")
    if killed_instance:
        ax.scatter([killed_instance[0]], [killed_instance[1]], marker="x", s=80, color="#c0392b", zorder=4,
                   label="the concerts instance killed above")
    ax.set_xlabel("lease TTL (s)")
    ax.set_ylabel("SIGKILL to key gone (s)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_calls(callers: dict[str, Caller], since: float, marks: dict[str, float] | None = None):
    """Each caller's calls over time, failed ones as red crosses, with dotted lines at `marks`
    (labels above the plot; marks closer than a tenth of the span share one label)."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    fig, ax = plt.subplots(figsize=(8, 1.6 + 0.5 * len(callers)))
    for row, (label, caller) in enumerate(callers.items()):
        for ok, colour in ((True, "#4c72b0"), (False, "#c0392b")):
            times = [c.t - since for c in caller.calls if c.ok == ok]
            ax.scatter(times, [row] * len(times), s=8 if ok else 14, color=colour, marker="|" if ok else "x",
                       label=("answered" if ok else "failed") if row == 0 else None)
    end = max((c.t - since for caller in callers.values() for c in caller.calls), default=1.0)
    groups: list[tuple[float, list[str]]] = []
    for text, at in sorted((marks or {}).items(), key=lambda item: item[1]):
        x = at - since
        ax.axvline(x, color="#555", ls=":")
        if groups and x - groups[-1][0] < 0.1 * end:
            groups[-1][1].append(text)
        else:
            groups.append((x, [text]))
    above = blended_transform_factory(ax.transData, ax.transAxes)
    for x, texts in groups:
        ax.text(x, 1.03, ", ".join(texts), transform=above, ha="center", va="bottom", fontsize=8)
    ax.set_yticks(range(len(callers)), list(callers))
    ax.set_ylim(-0.6, len(callers) - 0.4)
    ax.set_xlabel("seconds")
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1, 1.12), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ---- DNS ------------------------------------------------------------------------------------------

@dataclass
class StaleRun:
    ttl: int                 # the TTL of the answer the client cached
    cached_at: float         # when the client got that answer
    deregistered_at: float   # when the instance left the registry
    last_stale_call: float   # the last call the client still sent to the old address
    stale_calls: int         # calls sent to the old address after it left
    caller: Caller

    @property
    def stale_window(self) -> float:
        """Seconds the client kept calling the old address after it left the registry."""
        return max(0.0, self.last_stale_call - self.deregistered_at)

    @property
    def answer_age(self) -> float:
        """How old the cached answer was when the client finally asked again."""
        return self.last_stale_call - self.cached_at


def dns_picker(resolver: Any, name: str = SRV_NAME) -> Callable[[], str]:
    """Round robin over the SRV records of `name`, resolved through `resolver` (and its cache)."""
    turn = iter(range(10**9))

    def pick() -> str:
        records = sorted(resolver.resolve(name, "SRV"), key=lambda r: r.port)
        return f"http://127.0.0.1:{records[next(turn) % len(records)].port}"
    return pick


def stale_dns_window(lab: Any, resolver: Any, replica: Any) -> StaleRun:
    """A client calls concerts by the SRV name, round robin, caching the answer for its TTL; right
    after it cached a fresh answer, `replica` moves to new ports. Times how long the client kept
    calling the old address."""
    etcd = registry.connect(lab)
    old, key = replica.endpoint["http"], key_of(replica)
    resolver.cache.flush()
    answer = resolver.resolve(SRV_NAME, "SRV")
    cached_at, ttl = time.time(), answer.rrset.ttl
    caller = Caller(dns_picker(resolver), rate=100).start()
    mover = threading.Thread(target=replica.restart, kwargs={"new_ports": True})
    mover.start()
    deregistered_at = time.time() + wait_removed(etcd, key, time.time(), timeout=30)
    mover.join()
    pause_until(cached_at + ttl + 0.5, "the client calls through its cached answer")
    caller.stop(tail=0.1)
    stale = [c for c in caller.calls if c.address == old and c.t >= deregistered_at]
    return StaleRun(ttl, cached_at, deregistered_at, max((c.t for c in stale), default=deregistered_at),
                    len(stale), caller)


# ---- the registry's own speed (benchmark, and a claim) -------------------------------------------

def watch_latency(etcd: registry.Registry, n: int = 50) -> list[float]:
    """Seconds from a put (just before it is sent) until a WatchedPool has seen it, `n` times."""
    args.whole("n", n, 1, 10_000)
    service = f"latency-{time.time_ns()}"
    seen = []
    with registry.WatchedPool(etcd, service) as pool:
        for i in range(n):
            key = f"{registry.PREFIX}{service}/127.0.0.1:{10000 + i}"
            before = len(pool.changes)
            sent = time.time()
            etcd.put(key, json.dumps({"http": f"http://127.0.0.1:{10000 + i}"}))
            wait_until(lambda: len(pool.changes) > before, timeout=5)
            seen.append(pool.changes[before][0] - sent)
    etcd.delete_prefix(f"{registry.PREFIX}{service}/")
    return seen
