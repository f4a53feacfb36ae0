"""`make bench`: the showdown of lesson 05, three times: REST/JSON vs gRPC unary vs gRPC stream on one
look-up (concert c1), on a clean loopback network and with 20 ms added by a chaos proxy.

Prints median / p99 per call, throughput at 1 and 16 concurrent callers, bytes per call (payload and
wire), the time for many small look-ups, and the ratios whose ordering the lesson claims. Then lesson
06's three-way table: one order screen over REST, gRPC and GraphQL (through the gateway, and its two
subgraph requests sent directly, which shows what the gateway's hop adds)."""
from __future__ import annotations

import os

import labs
from labs.lessons import showdown
from labs import bench

N = int(os.environ.get("LABS_BENCH_CALLS", "1000"))
N_SLOW = max(20, N // 10)
ROUNDS = 3


def one_round(lab) -> dict[str, float]:
    rows, ratios = [], {}
    with showdown.Contenders(lab) as clean, showdown.Contenders(lab, latency_ms=20) as slow:
        for tag, contenders, n in (("clean", clean, N), ("+20ms", slow, N_SLOW)):
            singles = [bench.measure(getattr(contenders, way), n=n, warmup=20, label=f"{label} {tag}", progress=False)
                       for way, label in (("rest", showdown.REST), ("unary", showdown.UNARY),
                                          ("streamed", showdown.STREAM))]
            at_16 = [bench.measure(getattr(contenders, way), n=n, warmup=20, concurrency=16,
                                   label=f"{label} {tag}", progress=False)
                     for way, label in (("rest", showdown.REST), ("unary", showdown.UNARY))]
            batch = showdown.many_lookups(contenders, n=n // 5)
            rows += singles + at_16
            ratios[f"REST/unary median {tag}"] = singles[0].median_ms / singles[1].median_ms
            ratios[f"unary/REST calls/s x16 {tag}"] = at_16[1].calls_per_s / at_16[0].calls_per_s
            ratios[f"unary/stream {n // 5} look-ups {tag}"] = batch[showdown.UNARY] / batch[showdown.STREAM]
    payload, wire = showdown.payload_bytes(lab), showdown.wire_bytes(lab, calls=200)
    ratios["JSON/protobuf payload bytes"] = payload["REST/JSON"] / payload["gRPC/protobuf"]
    print(f"{'run':<22} {'callers':>7} {'median ms':>10} {'p99 ms':>9} {'calls/s':>9}")
    for r in rows:
        print(f"{r.label:<22} {r.concurrency:>7} {r.median_ms:>10.3f} {r.p99_ms:>9.3f} {r.calls_per_s:>9,.0f}")
    print("payload bytes:", payload, " wire bytes per call (both ways):", {k: round(v) for k, v in wire.items()})
    return ratios


def three_way() -> None:
    lab = labs.start("graphql", "orders", progress=False)
    print(f"\n-- the order screen three ways (lesson 06): {max(50, N // 4)} screens each, interleaved; "
          f"bytes on the wire both ways per screen")
    table, _ = showdown.screen_table(lab, screens=max(50, N // 4), wire_screens=50, progress=False)
    print(table.to_string())


def main() -> None:
    lab = labs.start("concerts")
    history = []
    for number in range(1, ROUNDS + 1):
        print(f"\n-- showdown run {number} of {ROUNDS} ({N} calls clean, {N_SLOW} with +20 ms, {os.cpu_count()} CPUs)")
        ratios = one_round(lab)
        history.append(ratios)
        for name, value in ratios.items():
            print(f"  {name:<38} {value:6.2f}x")
    must_exceed_one = ["JSON/protobuf payload bytes", "REST/unary median clean", "unary/REST calls/s x16 clean",
                       f"unary/stream {N_SLOW // 5} look-ups +20ms"]
    held = all(run[name] > 1 for run in history for name in must_exceed_one)
    three_way()
    print(f"\nordering (protobuf smaller, gRPC unary faster than REST, stream faster than unary for many "
          f"small messages) held in all {ROUNDS} runs: {held}")
    lab.stop()
    if not held:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
