"""`make bench`: lesson 08's API gateway (Envoy), measured.

  hop         one GetUser call: REST -> Envoy -> gRPC, gRPC to the service directly, REST to the service
              directly; median and p99 over LABS_BENCH_CALLS calls each (default 1000)
  429         per-client buckets of 10 per 10 s: a client sending 30 at once, five fresh clients in a
              row; allowed calls per window against the budget
  failover    four callers through the `edge` balancer, a gateway SIGKILLed 1 s in; failed calls per
              1000 with two replicas, with two replicas and one client retry, with one replica
  envoy       RSS of the gateway process, and seconds from spawn to ready (stopped and started 5 times)
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LABS_PROGRESS", "0")

import labs  # noqa: E402
from labs.clients import gateway as gw  # noqa: E402
from labs.lessons import gateway, gateway_edge as edge  # noqa: E402

CALLS = int(os.environ.get("LABS_BENCH_CALLS", "1000"))


def hop(lab, token) -> None:
    runs = edge.hop_cost(lab, token, calls=CALLS)
    print(f"hop ({CALLS} calls each, one connection each)")
    for way, run in runs.items():
        print(f"  {way:<26} median {run.median_ms:6.2f} ms   p99 {run.p99_ms:6.2f} ms")
    added = runs["REST -> gateway -> gRPC"].median_ms - runs["gRPC, direct"].median_ms
    print(f"  the gateway adds {added:.2f} ms a call over direct gRPC (median)")


def limits(lab, issuer) -> None:
    allowed = []
    for _ in range(5):
        stamp = time.time_ns()
        trial = gateway.two_clients(lab, {"A": issuer.token("u1", client_id=f"bench-{stamp}")}, {"A": 30})
        allowed.append(trial.passed("A"))
    exact = sum(a == 10 for a in allowed)
    print(f"429 accuracy: budget 10 per 10 s, 30 sent at once by a fresh client, 5 times: allowed {allowed} "
          f"({exact}/5 exactly the budget)")


def failover(lab, token) -> None:
    print("failover: 4 callers, 2 s, a gateway SIGKILLed 1 s in")
    for label, replicas, retry in (("two replicas", 2, False), ("two replicas, one client retry", 2, True),
                                   ("one replica", 1, False)):
        front = labs.start("edge", options={"edge": {"replicas": replicas}}, progress=False)
        run = edge.steady_load(front.endpoint("edge")["http"], token, seconds=2, action_at=1,
                               action=lambda: lab.kill("gateway"), client_retry=retry, label=label)
        labs.start("gateway", progress=False)
        print(f"  {label:<32} {run.failed:4d} of {run.calls:4d} failed = {run.failed_per_1000:6.1f} per 1000")
        time.sleep(0.5)  # the balancer's health check sees the restarted replica


def envoy_figures(lab) -> None:
    rss = {row["name"]: row["rss_mib"] for row in lab.status()}["gateway"]
    ready = []
    component = lab.component("gateway")
    for _ in range(5):
        component.stop(keep_data=True)
        component.start()
        ready.append(component.ready_seconds)
    print(f"envoy: RSS {rss:.1f} MiB (limit 100); ready in {statistics.median(ready):.2f} s median of 5 "
          f"(max {max(ready):.2f} s, limit 1 s; includes writing the config and the descriptor set)")


def main() -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start")
    lab = labs.start("gateway", progress=False)
    issuer = gw.issuer()
    token = issuer.token("u1", client_id="bench")
    envoy_figures(lab)
    hop(lab, token)
    limits(lab, issuer)
    failover(lab, token)


if __name__ == "__main__":
    main()
