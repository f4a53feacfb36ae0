"""Measure call latencies and plot them. Small on purpose: the lessons' shared harness grows here.

    samples = bench.measure(lambda: client.place_order("u1", "c1"), n=300, label="REST")
    samples.median_ms, samples.p99_ms
    bench.plot_latencies([in_process, rest, grpc])
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

MAX_CALLS = 100_000


@dataclass
class Samples:
    label: str
    seconds: list[float] = field(default_factory=list)

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

    def __repr__(self) -> str:
        return f"<{self.label}: {len(self.seconds)} calls, median {self.median_ms:.4g} ms, p99 {self.p99_ms:.4g} ms>"


def scaled(n: int) -> int:
    """`n` scaled by LABS_BENCH_SCALE (CI may use fewer calls; never zero)."""
    scale = float(os.environ.get("LABS_BENCH_SCALE", "1"))
    return max(10, int(n * scale))


def measure(call: Callable[[], object], n: int = 200, warmup: int = 10, label: str = "calls",
            progress: bool = True) -> Samples:
    """Time `n` sequential calls (after `warmup` untimed ones), with a progress bar."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CALLS:
        raise ValueError(f"n must be a whole number from 1 to {MAX_CALLS}, got {n!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or not 0 <= warmup <= MAX_CALLS:
        raise ValueError(f"warmup must be a whole number from 0 to {MAX_CALLS}, got {warmup!r}")
    for _ in range(warmup):
        call()
    samples = Samples(label)
    rounds = range(n)
    if progress and os.environ.get("LABS_PROGRESS", "1") != "0":
        from tqdm.auto import tqdm
        rounds = tqdm(rounds, desc=label, unit="call", leave=False, mininterval=0.5)
    clock = time.perf_counter
    for _ in rounds:
        started = clock()
        call()
        samples.seconds.append(clock() - started)
    return samples


def plot_latencies(runs: Sequence[Samples], title: str = "latency per call", log: bool = True):
    """Side-by-side distributions (violin + median marks), log scale by default.

    On a log scale the violins are drawn from log10 of the values, so a run whose calls span
    0.02 to 2 ms keeps its shape instead of becoming a spike with a long linear tail."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    def scale(ms: float) -> float:
        return math.log10(max(ms, 1e-6)) if log else ms

    fig, ax = plt.subplots(figsize=(8, 3.6))
    data = [[scale(s * 1e3) for s in run.seconds] for run in runs]
    parts = ax.violinplot(data, showmedians=True, showextrema=False)
    for body in parts["bodies"]:
        body.set_alpha(0.5)
    ax.set_xticks(range(1, len(runs) + 1), [r.label for r in runs])
    for i, run in enumerate(runs, start=1):
        ax.annotate(f"median {run.median_ms:.3g} ms", (i, scale(run.median_ms)), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=9)
    if log:
        ax.yaxis.set_major_locator(MultipleLocator(1))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{10 ** y:g}"))
    ax.set_ylabel("milliseconds per call" + (" (log scale)" if log else ""))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
