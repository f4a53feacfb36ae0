"""`make bench`: what a class costs.

1. The brokers of a 30-seat class server (`python -m labs serve-class --seats 30`): seconds to start,
   resident memory (goal: <= 2 GiB).
2. LABS_BENCH_LEARNERS simulated learners (default 2; the issue's figure is 10) running lessons 09 and
   11 at the same time, each a Run All in a fresh kernel, as learners do: once with their own
   components ("own": every learner's kernel starts its brokers), once on a class server ("class":
   one seat each). Memory is the proportional set size (PSS: shared pages split among the processes
   sharing them) of every learner's kernel and what it started, plus the class server's brokers,
   sampled every 2 s; the figure is its peak. Time is each learner's wall-clock seconds for both
   lessons. Lesson 09's broker restart cannot run on a seat (the broker is the class's): its two
   cells fail there, and are listed.

LABS_BENCH_SEATS changes part 1's class size. The machine's load average is printed with the times.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script, this folder heads sys.path, where benchmarks/kafka.py would shadow kafka-python.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("LABS_PROGRESS", "0")

import psutil  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ["09-message-queues.ipynb", "11-kafka-the-log.ipynb"]
SEATS = int(os.environ.get("LABS_BENCH_SEATS", "30"))
LEARNERS = int(os.environ.get("LABS_BENCH_LEARNERS", "2"))


def _tree(pids: list[int]):
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            yield root
            yield from root.children(recursive=True)


def _pss(roots: list[int]) -> int:
    total, seen = 0, set()
    for proc in _tree(roots):
        if proc.pid not in seen:
            seen.add(proc.pid)
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
    return total


class PeakMemory:
    """The peak PSS of some process trees, sampled in a thread."""

    def __init__(self, roots) -> None:
        self.roots, self.peak, self._stop = roots, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            self.peak = max(self.peak, _pss(self.roots()))

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def learner(notebooks: list[str]) -> None:
    """One simulated learner (run as `classroom.py --learner NB...`): each notebook's Run All in a
    fresh kernel; prints {"seconds": {...}, "errors": {...}} as one JSON line."""
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    seconds, errors = {}, {}
    for name in notebooks:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        # IPC sockets: ten kernels starting at once on TCP race for the same ports (ZMQError: address
        # in use, or a client talking to another learner's kernel).
        km = KernelManager(kernel_name="python3", transport="ipc",
                           connection_file=str(Path(tempfile.mkdtemp()) / "kernel.json"))
        client = NotebookClient(nb, km=km, timeout=900, startup_timeout=600, allow_errors=True,
                                resources={"metadata": {"path": str(ROOT / "notebooks")}})
        started = time.perf_counter()
        try:
            client.execute()
            problem = []
        except Exception as exc:  # the kernel died or never started: say so, go on with the next lesson
            problem = [f"the run stopped: {type(exc).__name__}: {str(exc)[:200]}"]
        seconds[name] = round(time.perf_counter() - started, 1)
        errors[name] = problem + [f"cell {i}: {o.get('ename')}: {str(o.get('evalue'))[:120]}"
                                  for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                                  for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    print(json.dumps({"seconds": seconds, "errors": errors}), flush=True)


def run_learners(mode: str, count: int, server=None) -> dict:
    seat_files = server.seat_files() if server is not None else None
    procs = []
    for n in range(count):
        env = {**os.environ, "LABS_PROGRESS": "0"}
        env.pop("LABS_CLASS", None)
        if seat_files:
            env["LABS_CLASS"] = str(seat_files[n])
        log = open(Path(tempfile.gettempdir()) / f"labs-bench-learner-{mode}-{n}.log", "w")
        procs.append(subprocess.Popen([sys.executable, __file__, "--learner", *LESSONS], env=env,
                                      stdout=subprocess.PIPE, stderr=log, text=True))
    started = time.perf_counter()
    with PeakMemory(lambda: _kernels(procs) + (_broker_pids(server) if server else [])) as memory:
        outputs = [p.communicate()[0].strip().splitlines() for p in procs]
    results = [json.loads(out[-1]) if out else {"seconds": {}, "errors": {"?": [f"learner {n} printed nothing; see "
               f"{tempfile.gettempdir()}/labs-bench-learner-{mode}-{n}.log"]}} for n, out in enumerate(outputs)]
    wall = time.perf_counter() - started
    per = [sum(r["seconds"].values()) for r in results if r["seconds"]] or [0.0]
    return {"mode": mode, "learners": count, "peak": memory.peak, "wall": wall,
            "median learner s": statistics.median(per), "max learner s": max(per),
            "errors": sorted({e for r in results for nb in r["errors"].values() for e in nb})}


def _kernels(procs) -> list[int]:
    """The learners' kernels (and through them their components), not the nbclient harness, which a
    learner does not run (JupyterHub runs a single-user server per learner instead, ~100 MiB)."""
    found = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            found += [c.pid for c in psutil.Process(p.pid).children()]
    return found


def _broker_pids(server) -> list[int]:
    comps = [server.rabbitmq, *server.redis.values(), *server.kafka.values()]
    return [pid for c in comps if c is not None for pid in c.pids()]


def main() -> None:
    from labs.tools.classroom import ClassServer
    with tempfile.TemporaryDirectory() as folder:
        server = ClassServer(SEATS, folder=folder, name="bench").start()
        time.sleep(3)  # let the brokers settle after their boot
        mem = server.memory()
        pss = _pss(_broker_pids(server))
        print(f"class server, {SEATS} seats: started in {server.started_seconds:.1f} s; resident "
              f"{mem['total'] / 2**20:.0f} MiB (rabbitmq {mem['rabbitmq'] / 2**20:.0f}, "
              f"{SEATS} redis {mem['redis'] / 2**20:.0f}, {SEATS} kafka {mem['kafka'] / 2**20:.0f}); "
              f"PSS {pss / 2**20:.0f} MiB; goal <= 2048 MiB")
        server.stop()
    if LEARNERS < 1:
        return
    rows = [run_learners("own", LEARNERS, None)]
    with tempfile.TemporaryDirectory() as folder:
        with ClassServer(LEARNERS, folder=folder, name="bench") as server:
            rows.append(run_learners("class", LEARNERS, server))
    print(f"\n{LEARNERS} simulated learners running {' and '.join(LESSONS)} at once "
          f"(load average now {os.getloadavg()[0]:.1f}):")
    for r in rows:
        per_mib = r["peak"] / r["learners"] / 2**20
        print(f"  {r['mode']:<5} peak PSS {r['peak'] / 2**30:.2f} GiB = {per_mib:.0f} MiB per learner "
              f"(x30: {per_mib * 30 / 1024:.1f} GiB); per learner median {r['median learner s']:.0f} s, "
              f"slowest {r['max learner s']:.0f} s; all done in {r['wall']:.0f} s")
        for e in r["errors"]:
            print(f"        error in a learner's run: {e}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--learner":
        learner(sys.argv[2:])
    else:
        main()
