"""`make bench`: what call tracing costs per call, over HTTP and over gRPC.

Two small lab services (tests/fixtures/trace_service.py: FastAPI + gRPC, traced) run as components.
Each call is timed from this process in three ways, taking turns call by call so drift hits all alike:

  plain      a client without hooks (httpx.Client / grpc.insecure_channel)
  untraced   the traced client outside `trace.record()`: the hooks only look up the contextvar
  traced     the same client inside `trace.record()`: header sent, span written by every caller

overhead = traced - plain (wall clock). The cpu columns are the calling process's CPU time per call
(time.thread_time), steadier than wall time on a busy machine; they miss the services' share.

"1 hop" calls trace-down directly (one span per call); "2 hops" calls trace-up, which calls
trace-down (two spans, in two processes). Figures are medians over LABS_BENCH_CALLS calls (>= 1000).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "trace_service.py"
WARMUP = 100


def _register_fixture_services() -> None:
    from labs.runtime.component import _registry
    spec = importlib.util.spec_from_file_location("trace_service", FIXTURE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for service in module.specs():
        _registry[service.name] = service


def measure(calls: dict[str, object], n: int) -> dict[str, tuple[float, float]]:
    """Median wall and client-CPU µs per call for each mode. The modes take turns call by call (in
    rotating order), so a busy moment of the machine hits them alike; only the call is timed."""
    from labs import trace
    from labs import tracing
    modes = list(calls)
    wall: dict[str, list[int]] = {mode: [] for mode in modes}
    cpu: dict[str, list[int]] = {mode: [] for mode in modes}
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    with trace.record(settle=0):
        for i in range(n + WARMUP):
            for k in range(len(modes)):
                mode = modes[(i + k) % len(modes)]
                call = calls[mode]
                token = None if mode == "traced" else tracing.activate(None)
                c0, t0 = cpu_clock(), clock()
                call()
                elapsed, used = clock() - t0, cpu_clock() - c0
                if token is not None:
                    tracing.deactivate(token)
                if i >= WARMUP:
                    wall[mode].append(elapsed)
                    cpu[mode].append(used)
    return {mode: (statistics.median(wall[mode]) / 1000, statistics.median(cpu[mode]) / 1000) for mode in modes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=int(os.environ.get("LABS_BENCH_CALLS", "1000")),
                        help="calls per mode and path (default and minimum 1000)")
    args = parser.parse_args(argv)
    n = max(1000, args.calls)

    import grpc
    import httpx

    import labs
    from labs import trace
    from labs import tracing

    os.environ.setdefault("LABS_PROGRESS", "0")
    _register_fixture_services()
    rows = []
    with labs.start("trace-up", progress=False) as lab:
        down, up = lab.endpoint("trace-down"), lab.endpoint("trace-up")
        plain_http = {name: httpx.Client(base_url=ep["http"], trust_env=False) for name, ep in
                      (("down", down), ("up", up))}
        traced_http = {name: trace.http_client(f"trace-{name}", ep["http"]) for name, ep in
                       (("down", down), ("up", up))}
        plain_grpc = {name: grpc.insecure_channel(ep["grpc"]) for name, ep in (("down", down), ("up", up))}
        traced_grpc = {name: trace.grpc_channel(f"trace-{name}", ep["grpc"]) for name, ep in
                       (("down", down), ("up", up))}
        body = b'{"order": 1, "seat": "A1"}'

        def http_echo(client):
            return lambda: client.post("/echo", content=body)

        def http_relay(client):
            return lambda: client.post("/relay", params={"via": "http"}, json={"order": 1})

        def grpc_method(channel, method, payload):
            stub = channel.unary_unary(f"/trace.Fixture/{method}")
            return lambda: stub(payload)

        cases = [
            ("HTTP  1 hop  POST /echo", lambda c: http_echo(c["down"]), plain_http, traced_http),
            ("HTTP  2 hops POST /relay", lambda c: http_relay(c["up"]), plain_http, traced_http),
            ("gRPC  1 hop  Echo", lambda c: grpc_method(c["down"], "Echo", body), plain_grpc, traced_grpc),
            ("gRPC  2 hops Relay", lambda c: grpc_method(c["up"], "Relay", b"grpc"), plain_grpc, traced_grpc),
        ]
        for label, make, plain, traced in cases:
            medians = measure({"plain": make(plain), "untraced": make(traced), "traced": make(traced)}, n)
            rows.append((label, medians))

        # sanity: the traced mode really recorded every hop
        with trace.record(settle=1.0) as run:
            http_relay(traced_http["up"])()
            grpc_method(traced_grpc["up"], "Relay", b"grpc")()
        assert len(run.spans) == 4, run.spans
        errors = tracing.stats()["errors"]
        for name in ("trace-down", "trace-up"):
            errors += httpx.get(lab.endpoint(name)["http"] + "/stats", trust_env=False).json()["errors"]

    # the hooks alone, without a network: an in-memory transport
    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=b"ok"))
    bare = httpx.Client(base_url="http://x", transport=mock)
    hooked = tracing.traced_httpx_client("notebook", "x", "http://x", transport=mock)
    in_memory = measure({"plain": lambda: bare.get("/"), "untraced": lambda: hooked.get("/"),
                         "traced": lambda: hooked.get("/")}, n)

    print(f"trace overhead per call: median of {n} calls per cell, µs; 'cpu' is this process's CPU time")
    print(f"{'call':<26}{'plain':>8}{'untraced':>10}{'traced':>8}{'overhead':>10}{'':>6}{'cpu plain':>11}"
          f"{'cpu traced':>12}")
    for label, m in rows + [("httpx in memory (no net)", in_memory)]:
        (plain, plain_cpu), (untraced, _), (traced, traced_cpu) = m["plain"], m["untraced"], m["traced"]
        extra = traced - plain
        print(f"{label:<26}{plain:>8.0f}{untraced:>10.0f}{traced:>8.0f}{extra:>+10.0f}{100 * extra / plain:>+5.0f}%"
              f"{plain_cpu:>11.0f}{traced_cpu:>12.0f}")
    print(f"tracing errors: {errors}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
