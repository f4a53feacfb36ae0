"""`make bench`: lesson 13's capstone, the stub design and the solution side by side on the same faults.

    .venv/bin/python benchmarks/choosing.py

For each design (the stub: every flow a REST call; the solution of exercise 13.1), LABS_BENCH_RUNS runs
(default 3) of the capstone under the seeded schedule (seed 13): orders succeeded, those started while
notifications was down, p50 / p99 order latency, availability measured on the orders against the
product of the synchronous hops read from the trace, customers charged for a failed order, messages
lost / duplicated, protocols inside, the phone's order screen, and the wall time of one capstone run
(components already up). Medians of the runs, except the counts, which are shown for every run.

Exit status 1 if a capstone run took longer than 60 s (the lesson's budget on 2 cores).
"""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and benchmarks/kafka.py would shadow kafka-python.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "3"))
BUDGET_S = 60.0
ROOT = Path(__file__).resolve().parents[1]


def solution_design() -> dict:
    from labs.tools.notebooks import solution_sections
    scope: dict = {}
    exec(solution_sections(ROOT / "solutions" / "13-choosing.py")["13.1"], scope)
    return scope["design"]


def main() -> int:
    os.environ.setdefault("LABS_PROGRESS", "0")
    import labs
    from labs.lessons import capstone

    lab = labs.start(*capstone.NEEDS, progress=False)
    designs = {"stub (all synchronous)": capstone.ALL_SYNCHRONOUS, "solution": solution_design()}
    reports: dict[str, list] = {label: [] for label in designs}
    for _ in range(RUNS):
        for label, design in designs.items():  # interleaved: both meet the same machine load
            reports[label].append(capstone.run(lab, design, label=label, progress=False))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"capstone, seed 13, {reports[next(iter(reports))][0].attempted} orders a run, {RUNS} runs each; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    median = statistics.median
    rows = {
        "orders succeeded (each run)": lambda rs: ", ".join(f"{r.succeeded}/{r.attempted}" for r in rs),
        "... while notifications was down": lambda rs: ", ".join("{}/{}".format(*r.during_outage) for r in rs),
        "p50 order latency, ms": lambda rs: f"{median(r.p50_ms for r in rs):.0f}",
        "p99 order latency, ms": lambda rs: f"{median(r.p99_ms for r in rs):.0f}",
        "availability: orders / hops multiplied": lambda rs: f"{median(r.availability for r in rs):.1%} / "
                                                             f"{median(r.product for r in rs):.1%}",
        "synchronous hops in the trace": lambda rs: ", ".join(str(len(r.hops)) for r in rs),
        "charged for a failed order": lambda rs: ", ".join(str(r.charged_without_order) for r in rs),
        "messages lost / duplicated": lambda rs: ", ".join(f"{r.lost}/{r.duplicated}" for r in rs),
        "protocols inside": lambda rs: f"{len(rs[0].protocols)}: {', '.join(rs[0].protocols)}",
        "phone's order screen": lambda rs: f"{rs[0].screen['requests']} request(s), "
                                           f"{median(r.screen['ms'] for r in rs):.0f} ms",
        "capstone run, s (median / max)": lambda rs: f"{median(r.seconds for r in rs):.1f} / "
                                                     f"{max(r.seconds for r in rs):.1f}",
    }
    width = max(map(len, rows)) + 2
    print(" " * width + "".join(f"{label:<36}" for label in reports))
    for name, cell in rows.items():
        print(f"{name:<{width}}" + "".join(f"{cell(rs):<36}" for rs in reports.values()))
    slowest = max(r.seconds for rs in reports.values() for r in rs)
    if slowest > BUDGET_S:
        print(f"a capstone run took {slowest:.1f} s, over the {BUDGET_S:.0f} s budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
