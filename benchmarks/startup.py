"""`make bench`: seconds from spawn to ready per component (median of 5), peak RSS, and the
cold start of the full broker set (`python -m labs up`, median of 3)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

from tqdm.auto import tqdm

import labs
from labs.runtime import get_spec
from labs.runtime.component import LocalComponent
from labs.runtime.lab import _session
from labs.tools.smoke import ROUNDTRIPS, roundtrip

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "5"))
LOAD_ROUNDTRIPS = 200  # brokers: a write and a read each
SERVICE_ROUNDTRIPS = 20  # services: HTTP + gRPC health checks, each on a new connection (~0.1 s)


class _Lab:
    """Just enough of a Lab for smoke.roundtrip."""
    def __init__(self, comp):
        self.comp = comp

    def endpoint(self, name):
        return self.comp.endpoint


def one_start(name: str) -> tuple[float, int]:
    """Spawn-to-ready of a fresh instance; what it requires runs already (started once, reused)."""
    spec = get_spec(name)
    deps = labs.start(*spec.requires, progress=False) if spec.requires else None
    comp = LocalComponent(spec, spec.validate_options({}), _session.reaper)
    comp.extra_env = {"LABS_DEPENDENCIES": json.dumps({d: deps.endpoint(d) for d in spec.requires}),
                      "LABS_TRACE_DIR": str(labs.runtime.trace_dir())}
    peak, stop = 0, threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, comp.rss_bytes())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    try:
        comp.start()
        ready = time.perf_counter() - started
        for _ in range(LOAD_ROUNDTRIPS if name in ROUNDTRIPS else SERVICE_ROUNDTRIPS):
            # a little work, so the peak is not just the idle size
            roundtrip(_Lab(comp), name)
    finally:
        stop.set()
        sampler.join()
        comp.stop()
    return ready, peak


BROKERS = ["rabbitmq", "redis", "kafka"]


def cold_start(names: list[str]) -> float:
    """Seconds until `python -m labs up NAMES --json` prints its endpoints (all start in parallel)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "labs", "up", *names, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.terminate()
    proc.wait(timeout=60)
    return elapsed


def main() -> None:
    rows = []
    names = labs.component_names()
    with tqdm(total=len(names) * RUNS + 6, desc="benchmark", unit="start") as bar:
        for name in names:
            readies, peaks = [], []
            for _ in range(RUNS):
                ready, peak = one_start(name)
                readies.append(ready)
                peaks.append(peak)
                bar.update(1)
            rows.append((name, statistics.median(readies), min(readies), max(readies), max(peaks) / 2**20))
        colds: dict[str, list[float]] = {"brokers (rabbitmq redis kafka)": [], "everything": []}
        for _ in range(3):
            for label, names_up in zip(colds, (BROKERS, [])):
                colds[label].append(cold_start(names_up))
                bar.update(1)
    print(f"\nspawn to ready, median of {RUNS} fresh starts (components it requires already running)")
    print(f"{'component':<14} {'ready median s':>15} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
    for name, med, lo, hi, peak in rows:
        print(f"{name:<14} {med:>15.2f} {lo:>7.2f} {hi:>7.2f} {peak:>13.1f}")
    for label, runs in colds.items():
        print(f"cold start of {label} with python -m labs up: median {statistics.median(runs):.2f} s "
              f"over {len(runs)} runs ({', '.join(f'{c:.1f}' for c in runs)})")
    print(f"\n(peak RSS sampled every 50 ms from spawn through {LOAD_ROUNDTRIPS} round trips per broker, {SERVICE_ROUNDTRIPS} per service)")


if __name__ == "__main__":
    main()
