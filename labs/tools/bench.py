"""Measure calls: latency per call, throughput under concurrency, bytes per call; tables and plots.

    samples = bench.measure(lambda: client.place_order("u1", "c1"), n=300, label="REST")
    samples.median_ms, samples.p99_ms, samples.calls_per_s
    bench.measure(call, duration=2.0, concurrency=16)      # a fixed time, 16 callers at once
    runs = bench.sweep(call, levels=(1, 4, 16, 64), n=400, label="gRPC")
    bench.table([*rest_runs, *grpc_runs])                   # a pandas DataFrame
    bench.plot_latencies([...]); bench.plot_throughput([...]); bench.plot_bytes({...})
    bench.overhead()                                        # what the harness itself costs per call

Concurrency is threads calling the same `call` (so it must be thread-safe, as httpx.Client and a gRPC
stub are): the callers share one client, the way a service's request handlers share one. Written
here rather than taken from a load tester (locust, ghz) because a lesson needs the numbers in its
own kernel as Python objects, against any callable, in a second or two.

Layer: tools.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from ..runtime import args
from ..runtime.progress import bar as progress_bar, finish as finish_bar

MAX_CALLS = 100_000
MAX_CONCURRENCY = 256
MAX_DURATION_S = 600.0
LEVELS = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class Samples:
    """One run: the time of every call, how long the whole run took, and how many callers ran it."""
    label: str
    seconds: list[float] = field(default_factory=list)
    wall_seconds: float | None = None  # first call started to last call ended (None: calls added up)
    concurrency: int = 1
    bytes_per_call: float | None = None  # set by the caller when it knows (bench cannot see the wire)
    cpu_seconds: float | None = None  # CPU time this process spent during the timed calls (all threads)
    server_cpu_seconds: float | None = None  # set by the caller when it can read the server's CPU time

    def _quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        if not ordered:
            raise ValueError(f"{self.label}: no samples")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def median_ms(self) -> float:
        return self._quantile(0.5) * 1e3

    @property
    def p99_ms(self) -> float:
        return self._quantile(0.99) * 1e3

    @property
    def calls_per_s(self) -> float:
        """Throughput: calls completed per second of the run."""
        elapsed = self.wall_seconds if self.wall_seconds else sum(self.seconds)
        return len(self.seconds) / elapsed if elapsed > 0 else float("inf")

    @property
    def client_cpu_ms(self) -> float | None:
        """CPU milliseconds the calling process spent per call: unlike a time, load elsewhere on
        the machine hardly moves it."""
        return None if self.cpu_seconds is None or not self.seconds else self.cpu_seconds * 1e3 / len(self.seconds)

    @property
    def server_cpu_ms(self) -> float | None:
        """CPU milliseconds the server spent per call (when the caller measured it)."""
        if self.server_cpu_seconds is None or not self.seconds:
            return None
        return self.server_cpu_seconds * 1e3 / len(self.seconds)

    def row(self) -> dict:
        return {"label": self.label, "concurrency": self.concurrency, "calls": len(self.seconds),
                "median_ms": self.median_ms, "p99_ms": self.p99_ms, "calls_per_s": self.calls_per_s,
                "client_cpu_ms": self.client_cpu_ms, "server_cpu_ms": self.server_cpu_ms,
                "bytes_per_call": self.bytes_per_call}

    def __repr__(self) -> str:
        where = f" x{self.concurrency}" if self.concurrency > 1 else ""
        return (f"<{self.label}{where}: {len(self.seconds)} calls, median {self.median_ms:.4g} ms, "
                f"p99 {self.p99_ms:.4g} ms, {self.calls_per_s:,.0f} calls/s>")


def scaled(n: int) -> int:
    """`n` scaled by LABS_BENCH_SCALE (CI may use fewer calls; never zero)."""
    scale = float(os.environ.get("LABS_BENCH_SCALE", "1"))
    return max(10, int(n * scale))


def measure(call: Callable[[], object], n: int = 200, warmup: int = 10, label: str = "calls",
            progress: bool = True, *, duration: float | None = None, concurrency: int = 1) -> Samples:
    """Time `n` calls (or as many as fit in `duration` seconds), after `warmup` untimed ones.

    With `concurrency` > 1 that many threads call at once, sharing the calls between them; the
    warm-up then runs at the same concurrency, so every connection the run will use is open."""
    args.whole("n", n, 1, MAX_CALLS)
    args.whole("warmup", warmup, 0, MAX_CALLS)
    args.whole("concurrency", concurrency, 1, MAX_CONCURRENCY)
    if duration is not None:
        args.positive_seconds("duration", duration, MAX_DURATION_S)
    limit = MAX_CALLS if duration is not None else n
    # A bar with a total for n calls; for a timed run, a total of the seconds it will take.
    with progress_bar(total=n if duration is None else None, desc=label, unit="call", show=progress,
                      mininterval=0.5) as bar:
        if concurrency == 1:
            for _ in range(warmup):
                call()
            samples = _run_sequential(call, limit, duration, bar)
        else:
            samples = _run_concurrent(call, limit, max(warmup, concurrency), duration, concurrency, bar)
        finish_bar(bar)  # it updates in batches: every call made means a full, finished bar
    samples.label, samples.concurrency = label, concurrency
    return samples


def _run_sequential(call, limit: int, duration: float | None, bar) -> Samples:
    clock = time.perf_counter
    seconds: list[float] = []
    record = seconds.append
    cpu = time.process_time()
    first = clock()
    deadline = first + duration if duration is not None else None
    for i in range(limit):
        started = clock()
        call()
        ended = clock()
        record(ended - started)
        if i % 16 == 15:  # updating a bar costs microseconds: do it now and then
            bar.update(16)
        if deadline is not None and ended >= deadline:
            break
    return Samples("", seconds, wall_seconds=clock() - first, cpu_seconds=time.process_time() - cpu)


def _run_concurrent(call, limit: int, warmup: int, duration: float | None, concurrency: int, bar) -> Samples:
    clock = time.perf_counter
    lock = threading.Lock()
    budget = [warmup]  # calls left to hand out (warm-up first, then the timed ones)
    start_gate = threading.Barrier(concurrency + 1)
    per_thread: list[list[float]] = [[] for _ in range(concurrency)]
    deadline: list[float | None] = [None]

    def take() -> bool:
        with lock:
            if budget[0] <= 0:
                return False
            budget[0] -= 1
            return True

    def warm() -> None:
        while take():
            call()

    def work(index: int) -> None:
        start_gate.wait()
        mine = per_thread[index]
        while take():
            started = clock()
            call()
            ended = clock()
            mine.append(ended - started)
            if len(mine) % 16 == 0:
                with lock:  # tqdm's counter is not thread-safe
                    bar.update(16)
            if deadline[0] is not None and ended >= deadline[0]:
                break

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
        for done in [pool.submit(warm) for _ in range(concurrency)]:
            done.result()
        budget[0] = limit
        running = [pool.submit(work, i) for i in range(concurrency)]
        cpu = time.process_time()
        first = clock()
        if duration is not None:
            deadline[0] = first + duration
        start_gate.wait()
        for done in running:
            done.result()  # a call that raised fails the run here
        wall = clock() - first
        cpu = time.process_time() - cpu
    return Samples("", [s for mine in per_thread for s in mine], wall_seconds=wall, cpu_seconds=cpu)


def sweep(call: Callable[[], object], levels: Sequence[int] = LEVELS, n: int = 200, label: str = "calls",
          progress: bool = True, **options) -> list[Samples]:
    """One `measure` per concurrency level (each with `n` calls, or `duration=` seconds)."""
    if not levels:
        raise ValueError(f"levels must name at least one concurrency from 1 to {MAX_CONCURRENCY}")
    for level in levels:
        args.whole("each concurrency level", level, 1, MAX_CONCURRENCY)
    runs = []
    with progress_bar(total=len(levels), desc=f"{label}: concurrency", unit="level", show=progress) as bar:
        for level in levels:
            runs.append(measure(call, n=n, label=label, progress=False, concurrency=level, **options))
            bar.update(1)
    return runs


def table(runs: Sequence[Samples]):
    """The runs as a pandas DataFrame: label, concurrency, calls, median_ms, p99_ms, calls_per_s,
    bytes_per_call (rounded for reading)."""
    import pandas as pd

    frame = pd.DataFrame([run.row() for run in runs])
    if frame.empty:
        return frame
    for column in ("client_cpu_ms", "server_cpu_ms", "bytes_per_call"):
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
    return frame.round({"median_ms": 3, "p99_ms": 3, "calls_per_s": 0, "client_cpu_ms": 3, "server_cpu_ms": 3,
                        "bytes_per_call": 1})


def overhead(n: int = 20_000, concurrency: int = 1) -> Samples:
    """The harness timing a call that does nothing: its median is what `measure` adds to each call,
    and 1 / calls_per_s what a call costs it in all (timing, bookkeeping, progress bar)."""
    return measure(lambda: None, n=n, warmup=0, label="bench overhead", concurrency=concurrency)


def plot_latencies(runs: Sequence[Samples], title: str = "latency per call", log: bool = True):
    """Side-by-side distributions (violin + median marks), log scale by default.

    On a log scale the violins are drawn from log10 of the values, so a run whose calls span
    0.02 to 2 ms keeps its shape instead of becoming a spike with a long linear tail."""
    import math
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    def scale(ms: float) -> float:
        return math.log10(max(ms, 1e-6)) if log else ms

    fig, ax = plt.subplots(figsize=(max(8.0, 1.5 * len(runs)), 3.6))
    data = [[scale(s * 1e3) for s in run.seconds] for run in runs]
    parts = ax.violinplot(data, showmedians=True, showextrema=False)
    for body in parts["bodies"]:
        body.set_alpha(0.5)
    ax.set_xticks(range(1, len(runs) + 1), [textwrap.fill(r.label, 12) for r in runs])
    for i, run in enumerate(runs, start=1):
        ax.annotate(f"median {run.median_ms:.3g} ms", (i, scale(run.median_ms)), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=9)
    values = [v for d in data for v in d]
    if log:
        ax.yaxis.set_major_locator(MultipleLocator(1))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{10 ** y:g}"))
        if values:  # whole decades around the data: no run is pressed against an edge
            ax.set_ylim(math.floor(min(values) - 0.1), math.ceil(max(values) + 0.1))
    elif values:
        ax.set_ylim(0, max(values) * 1.15)  # from zero, so a difference is seen at its true size
    ax.set_ylabel("milliseconds per call" + (" (log scale)" if log else ""))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_throughput(runs: Sequence[Samples], title: str = "throughput against concurrency"):
    """Calls per second against the number of concurrent callers, one line per label."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label in dict.fromkeys(run.label for run in runs):
        mine = sorted((r for r in runs if r.label == label), key=lambda r: r.concurrency)
        ax.plot([r.concurrency for r in mine], [r.calls_per_s for r in mine], marker="o", label=label)
    ax.set_xscale("log", base=2)
    levels = sorted({r.concurrency for r in runs})
    ax.set_xticks(levels, [str(level) for level in levels])
    ax.set_xlabel("concurrent callers")
    ax.set_ylabel("calls per second")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_bytes(bytes_per_call: Mapping[str, float] | Sequence[Samples], title: str = "bytes per call",
               xlabel: str = "bytes per call"):
    """A bar per label: bytes one call moves (a mapping label -> bytes, or runs with bytes_per_call)."""
    import matplotlib.pyplot as plt

    if not isinstance(bytes_per_call, Mapping):
        bytes_per_call = {r.label: r.bytes_per_call for r in bytes_per_call if r.bytes_per_call is not None}
    if not bytes_per_call:
        raise ValueError("plot_bytes needs at least one label with a number of bytes")
    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels, values = list(bytes_per_call), [float(v) for v in bytes_per_call.values()]
    bars = ax.barh(labels, values, alpha=0.7)
    ax.bar_label(bars, [f"{v:,.0f} B" for v in values], padding=4)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_xlim(right=max(values) * 1.2)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
