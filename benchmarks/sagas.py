"""`make bench`: lesson 12's order saga in both styles on one RabbitMQ (one process per service).

    .venv/bin/python benchmarks/sagas.py

  sagas per second      LABS_BENCH_SAGAS orders placed at once (default 400), until the last one ended
  p50 / p99 latency     of those sagas (placed at once: queueing included), and one at a time (the saga alone)
  messages per saga     publishes in one traced saga, the customer's order.place included
  checker               200 sagas under seed 7's faults, outbox + dedupe on: seconds for the run, and
                        for the four runs of the lesson side by side (each style, protections on and off)
  recovery              the orchestrator SIGKILLed with sagas in flight: from starting it again to its
                        "ready" (database open, commands sent again) and to the last saga's end

Figures are the median of LABS_BENCH_RUNS runs (default 3). Exit status 1 if the checker found a
violation with the protections on, or none with them off.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

SAGAS = int(os.environ.get("LABS_BENCH_SAGAS", "400"))
ONE_AT_A_TIME = 100
RUNS = int(os.environ.get("LABS_BENCH_RUNS", "3"))
STYLES = ("choreography", "orchestration")


def median(values) -> float:
    return statistics.median(list(values))


def main() -> int:
    os.environ.setdefault("LABS_PROGRESS", "0")
    import labs
    from labs import trace
    from labs.lessons import saga_checker, saga_crashes, saga_views, sagas

    lab = labs.start("rabbitmq", progress=False)
    print(f"order saga, one process per service; median of {RUNS} runs")
    print(f"  {'':<34}{'choreography':>14}{'orchestration':>15}")
    figures: dict[str, dict[str, float]] = {}
    for style in STYLES:
        with sagas.Shop(lab, style, label=f"bench-{style}", progress=False) as shop:
            with trace.record(f"bench {style}") as run:
                sagas.run_one(shop, "u01", "c1")
            loads = [sagas.throughput(shop, SAGAS) for _ in range(RUNS)]
            alone = sagas.latencies(shop, ONE_AT_A_TIME)
            figures[style] = {
                "sagas per second": median(x["sagas_per_s"] for x in loads),
                f"p50 ms, {SAGAS} placed at once": median(x["p50_ms"] for x in loads),
                f"p99 ms, {SAGAS} placed at once": median(x["p99_ms"] for x in loads),
                "p50 ms, one at a time": 1e3 * median(alone),
                "p99 ms, one at a time": 1e3 * sorted(alone)[int(0.99 * len(alone)) - 1],
                "messages per saga": sum(saga_views.messages(run.spans).values()),
            }
    for row in figures["choreography"]:
        print(f"  {row:<34}{figures['choreography'][row]:>14,.1f}{figures['orchestration'][row]:>15,.1f}")

    schedule = saga_checker.make_schedule(7, 200)
    ok = True
    checker_s = {}
    for style in STYLES:
        reports = [saga_checker.run(lab, style, schedule, progress=False) for _ in range(RUNS)]
        ok &= all(not r.violations for r in reports)
        checker_s[style] = median(r.seconds for r in reports)
    print(f"  {'checker, 200 sagas, protections on':<34}{checker_s['choreography']:>13.1f}s"
          f"{checker_s['orchestration']:>14.1f}s")
    side_by_side = []
    for _ in range(RUNS):
        started = time.perf_counter()
        runs = [(style, on, on) for on in (True, False) for style in STYLES]
        reports = saga_checker.run_many(lab, schedule, runs, progress=False)
        side_by_side.append(time.perf_counter() - started)
        ok &= all(bool(r.violations) != (r.outbox and r.dedupe) for r in reports.values())
        off = {k[0]: len(r.violations) for k, r in reports.items() if not k[1]}
    print(f"  the lesson's 4 checker runs side by side: {median(side_by_side):.1f} s "
          f"(violations with the protections off, last run: {off})")

    recoveries = [saga_crashes.crash_orchestrator(lab, sagas=40, kill_after=8) for _ in range(RUNS)]
    ok &= all(not r.violations for r in recoveries)
    print(f"  orchestrator SIGKILLed with {median(r.in_flight for r in recoveries):.0f} of 40 sagas in flight: "
          f"ready {median(r.restart_s for r in recoveries):.2f} s after being started again, "
          f"last saga ended after {median(r.all_ended_s for r in recoveries):.2f} s")
    lab.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
