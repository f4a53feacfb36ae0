"""`make bench`: the GraphQL gateway of lesson 06, measured.

    .venv/bin/python benchmarks/graphql_gateway.py   (not graphql.py: that name would shadow graphql-core)

Prints: the gateway's spawn-to-ready seconds (a real query through both subgraphs answered; median of
LABS_BENCH_RUNS fresh starts), its RSS after 500 queries, what its hop adds per query (the order
screen through the gateway against the same two subgraph requests sent directly), the 50-orders query
with and without the DataLoader (statements and milliseconds), and the npm install of its packages
(seconds and MiB, into a scratch copy of its folder; skipped when npm cannot reach a registry or cache).
Targets from issue 14: ready <= 3 s, RSS <= 160 MB.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

import labs
from labs import bench
from labs.components.graphql.node import GATEWAY_DIR
from labs.runtime import node as runtime_node
from labs.lessons import graphql, showdown
from labs.runtime import get_spec
from labs.runtime.component import LocalComponent
from labs.runtime.lab import _session

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "5"))
QUERIES = int(os.environ.get("LABS_BENCH_CALLS", "500"))
READY_TARGET_S, RSS_TARGET_MB = 3.0, 160


def fresh_gateway_start(lab) -> tuple[float, float, int]:
    """Spawn-to-ready of a new gateway over the running subgraphs, the CPU seconds it used until then
    (a figure the machine's load does not stretch), and its RSS after QUERIES queries."""
    spec = get_spec("graphql")
    comp = LocalComponent(spec, spec.validate_options({}), _session.reaper)
    comp.extra_env = {"LABS_DEPENDENCIES": json.dumps({d: lab.endpoint(d) for d in spec.requires}),
                      "LABS_TRACE_DIR": str(labs.runtime.trace_dir())}
    started = time.perf_counter()
    comp.start()
    ready = time.perf_counter() - started
    cpu = sum(psutil.Process(comp.pids()[0]).cpu_times()[:2])
    try:
        with graphql.Graph(lab) as graph:
            graph.url = comp.endpoint["graphql"]
            for _ in range(QUERIES):
                graph.ask(graphql.ORDER_SCREEN, {"id": "o2"})
        rss = comp.rss_bytes()
    finally:
        comp.stop()
    return ready, cpu, rss


def n_plus_one(lab) -> None:
    with graphql.Graph(lab) as graph:
        for batching in (False, True):
            graph.batching(batching)
            with graph.counting() as counted:
                graph.ask(graphql.FIFTY_ORDERS)
            run = bench.measure(lambda: graph.ask(graphql.FIFTY_ORDERS), n=max(20, QUERIES // 10),
                                label="DataLoader" if batching else "plain resolvers", progress=False)
            print(f"  50 orders with their users, {run.label:<16} statements {counted.queries}  "
                  f"median {run.median_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms")
        graph.reset()


def npm_install() -> None:
    found = runtime_node.find_node()
    if found is None:
        print(f"  npm install: skipped ({runtime_node.node_problem()})")
        return
    with tempfile.TemporaryDirectory(prefix="gateway-install-") as scratch:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(GATEWAY_DIR / name, scratch)
        started = time.perf_counter()
        done = subprocess.run([*runtime_node.npm_command(found), "ci", "--ignore-scripts", "--no-audit",
                               "--no-fund"], cwd=scratch, capture_output=True, text=True,
                              env={**os.environ, "PATH": f"{Path(found.path).parent}:{os.environ['PATH']}"})
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"  npm ci: failed (exit {done.returncode}), so no install figures: {done.stderr[-300:]}")
            return
        files = [f for f in Path(scratch, "node_modules").rglob("*") if f.is_file()]
        apparent = sum(f.stat().st_size for f in files)
        on_disk = sum(f.stat().st_blocks * 512 for f in files)
        print(f"  npm ci of the gateway's packages: {seconds:.1f} s, {len(files):,} files, "
              f"{apparent / 2**20:.0f} MiB of content, {on_disk / 2**20:.0f} MiB on disk (npm's cache was warm "
              f"if this machine installed them before)")


def main() -> None:
    print(f"-- GraphQL gateway (Hive Gateway runtime on {runtime_node.find_node()}), {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    lab = labs.start("graphql", "orders", progress=False)
    starts = [fresh_gateway_start(lab) for _ in range(RUNS)]
    ready = statistics.median(s for s, _, _ in starts)
    cpu = statistics.median(c for _, c, _ in starts)
    rss_mb = statistics.median(r for _, _, r in starts) / 1e6
    print(f"  gateway ready: median {ready:.2f} s of {RUNS} (min {min(s for s, _, _ in starts):.2f}, "
          f"max {max(s for s, _, _ in starts):.2f}); target <= {READY_TARGET_S:.0f} s: "
          f"{'met' if ready <= READY_TARGET_S else 'NOT met'}; CPU used until ready: median {cpu:.2f} s "
          f"(what an idle core would need)")
    print(f"  gateway RSS after {QUERIES} queries: median {rss_mb:.0f} MB; target <= {RSS_TARGET_MB} MB: "
          f"{'met' if rss_mb <= RSS_TARGET_MB else 'NOT met'}")
    table, runs = showdown.screen_table(lab, screens=QUERIES // 2, wire_screens=50, progress=False)
    hop = table.loc[showdown.SCREEN_GRAPHQL, "gateway_hop_ms"]
    print(f"  the gateway's hop per query (order screen via the gateway minus the same two subgraph "
          f"requests sent directly, medians): {hop:.1f} ms")
    n_plus_one(lab)
    npm_install()
    lab.stop()


if __name__ == "__main__":
    main()
