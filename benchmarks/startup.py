"""`make bench`: seconds from spawn to ready per component (median of 5), peak RSS, and the
cold start of the full broker set (`python -m labs up`, median of 3)."""
from __future__ import annotations

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
from labs.tools.smoke import roundtrip

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "5"))
LOAD_ROUNDTRIPS = 200


class _Lab:
    """Just enough of a Lab for smoke.roundtrip."""
    def __init__(self, comp):
        self.comp = comp

    def endpoint(self, name):
        return self.comp.endpoint


def one_start(name: str) -> tuple[float, int]:
    comp = LocalComponent(get_spec(name), get_spec(name).validate_options({}), _session.reaper)
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
        for _ in range(LOAD_ROUNDTRIPS):  # a little work, so the peak is not just the idle size
            roundtrip(_Lab(comp), name)
    finally:
        stop.set()
        sampler.join()
        comp.stop()
    return ready, peak


def full_set_cold_start() -> float:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "labs", "up", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.terminate()
    proc.wait(timeout=60)
    return elapsed


def main() -> None:
    rows = []
    names = labs.component_names()
    with tqdm(total=len(names) * RUNS + 3, desc="benchmark", unit="start") as bar:
        for name in names:
            readies, peaks = [], []
            for _ in range(RUNS):
                ready, peak = one_start(name)
                readies.append(ready)
                peaks.append(peak)
                bar.update(1)
            rows.append((name, statistics.median(readies), min(readies), max(readies), max(peaks) / 2**20))
        colds = []
        for _ in range(3):
            colds.append(full_set_cold_start())
            bar.update(1)
    print(f"\n{'component':<10} {'ready median s':>15} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
    for name, med, lo, hi, peak in rows:
        print(f"{name:<10} {med:>15.2f} {lo:>7.2f} {hi:>7.2f} {peak:>13.1f}")
    print(f"\nfull broker set cold start (python -m labs up, all in parallel): "
          f"median {statistics.median(colds):.2f} s over {len(colds)} runs ({', '.join(f'{c:.1f}' for c in colds)})")
    print(f"(peak RSS sampled every 50 ms from spawn through {LOAD_ROUNDTRIPS} write-then-read round trips)")


if __name__ == "__main__":
    main()
