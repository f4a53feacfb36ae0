"""`make bench`: one order placed in-process, over REST and over gRPC (median and p99)."""
from __future__ import annotations

import os

import labs
from labs.clients.ticketing import GrpcTicketing, Monolith, RestTicketing
from labs import bench

N = int(os.environ.get("LABS_BENCH_CALLS", "1000"))


def main() -> None:
    lab = labs.start("orders")
    rows = []
    for label, shop in (("method call", Monolith()), ("REST", RestTicketing(lab)), ("gRPC", GrpcTicketing(lab))):
        shop.reset()
        samples = bench.measure(lambda: shop.place_order("u1", "c1"), n=N, warmup=50, label=label)
        rows.append(samples)
    print(f"\nplace_order, {N} sequential calls after 50 warm-up ({os.cpu_count()} CPUs)")
    print(f"{'transport':<12} {'median ms':>10} {'p99 ms':>8} {'x method call':>14}")
    for s in rows:
        print(f"{s.label:<12} {s.median_ms:>10.3f} {s.p99_ms:>8.3f} {s.median_ms / rows[0].median_ms:>14.0f}")
    lab.stop()


if __name__ == "__main__":
    main()
