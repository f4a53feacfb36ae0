"""`make bench`: seconds from spawn to ready per component (median of 5), the CPU seconds (user+sys)
that start cost, peak RSS, and the cold start of the full broker set (`python -m labs up`, median of 3).

Before and after issue 19: RabbitMQ through its start script (LABS_RABBITMQ_START=script) against
its Erlang VM started directly, and each ticketing service in a new interpreter (LABS_FORKSERVER=0)
against forked from the session's warm one. CPU seconds do not depend on what else the machine is
running; the wall-clock seconds do, so the load average is printed with them. LABS_BENCH_COMPONENTS=a,b
measures only those; LABS_BENCH_COLD=0 skips the cold starts of `python -m labs up`."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time

from tqdm.auto import tqdm

import psutil

import labs
from labs.runtime import forkserver, get_spec
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


def cpu_seconds(comp) -> float:
    """User+sys CPU seconds of the component's processes and their descendants, dead ones included."""
    total = 0.0
    for pid in comp.pids():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
    return total


def one_start(name: str) -> tuple[float, int, float]:
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
        cpu = cpu_seconds(comp)
        for _ in range(LOAD_ROUNDTRIPS if name in ROUNDTRIPS else SERVICE_ROUNDTRIPS):
            # a little work, so the peak is not just the idle size
            roundtrip(_Lab(comp), name)
    finally:
        stop.set()
        sampler.join()
        comp.stop()
    return ready, peak, cpu


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


# (label, component, environment): the "before" rows start the component the way it was started
# before issue 19; the environment is restored afterwards.
BEFORE = {"rabbitmq": {"LABS_RABBITMQ_START": "script"}}
SERVICES = ("users", "concerts", "payments", "notifications", "orders")


def variants() -> list[tuple[str, str, dict]]:
    rows = []
    only = [n for n in os.environ.get("LABS_BENCH_COMPONENTS", "").split(",") if n]  # e.g. "rabbitmq,orders"
    for name in only or labs.component_names():
        before = BEFORE.get(name) or ({"LABS_FORKSERVER": "0"} if name in SERVICES else None)
        if before:
            how = "start script" if name == "rabbitmq" else "new interpreter"
            rows.append((f"{name} ({how})", name, before))
        rows.append((name, name, {}))
    return rows


def measure(name: str, env: dict) -> tuple[list[float], list[int], list[float]]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        runs = [one_start(name) for _ in range(RUNS)]
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    return [r[0] for r in runs], [r[1] for r in runs], [r[2] for r in runs]


def main() -> None:
    rows = []
    plan = variants()
    load_before = os.getloadavg()[0]
    with tqdm(total=len(plan) + 6, desc="benchmark", unit="component") as bar:
        for label, name, env in plan:
            readies, peaks, cpus = measure(name, env)
            rows.append((label, statistics.median(readies), min(readies), max(readies),
                         statistics.median(cpus), max(peaks) / 2**20))
            bar.update(1)
        colds: dict[str, list[float]] = {"brokers (rabbitmq redis kafka)": [], "everything": []}
        for _ in range(3 if os.environ.get("LABS_BENCH_COLD", "1") != "0" else 0):
            for label, names_up in zip(colds, (BROKERS, [])):
                colds[label].append(cold_start(names_up))
                bar.update(1)
    print(f"\nspawn to ready, median of {RUNS} fresh starts (components it requires already running); "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'component':<32} {'ready median s':>15} {'min s':>7} {'max s':>7} {'CPU s':>6} {'peak RSS MiB':>13}")
    for label, med, lo, hi, cpu, peak in rows:
        print(f"{label:<32} {med:>15.2f} {lo:>7.2f} {hi:>7.2f} {cpu:>6.2f} {peak:>13.1f}")
    server = forkserver._client._proc
    if server is not None and server.poll() is None:
        info = psutil.Process(server.pid)
        t = info.cpu_times()
        print(f"the fork server (once per session, before its first fork): {t.user + t.system:.2f} s CPU, "
              f"RSS {info.memory_info().rss / 2**20:.0f} MiB")
    for label, runs in colds.items():
        if not runs:
            continue
        print(f"cold start of {label} with python -m labs up: median {statistics.median(runs):.2f} s "
              f"over {len(runs)} runs ({', '.join(f'{c:.1f}' for c in runs)})")
    print(f"\n(peak RSS sampled every 50 ms from spawn through {LOAD_ROUNDTRIPS} round trips per broker, "
          f"{SERVICE_ROUNDTRIPS} per service; CPU seconds at ready, user+sys, the process tree's)")


if __name__ == "__main__":
    main()
