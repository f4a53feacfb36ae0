"""`make bench`: the lab's Kafka broker as lesson 11 uses it.

  produce    order events (~110 B JSON) sent with `lk.producer` (acks=all, linger 5 ms), then flush
  consume    the same events read back by one consumer outside any group (`eventlog.records`,
             which stops once it has caught up with every partition's high watermark)
  rebalance  three group members in child processes on a 3-partition topic; one is SIGKILLed;
             seconds until the two left hold every partition (session timeout + one join), and
             the same after a clean leave (close() sends LeaveGroup)

Medians over LABS_BENCH_RUNS runs (default 3). Event counts scale with LABS_BENCH_SCALE.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and the file itself would
# shadow the kafka-python package named `kafka`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("LABS_PROGRESS", "0")  # the figures, not a progress bar per group wait

import labs  # noqa: E402
from labs.lessons import consumer_groups, eventlog  # noqa: E402
from labs.clients import kafka as lk  # noqa: E402
from labs import bench  # noqa: E402

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "3"))


def throughput(lab, n: int) -> tuple[float, float]:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    lk.create_topic(lab, topic, partitions=3)
    producer = lk.producer(lab)
    events = [eventlog.OrderEvent(uuid.uuid4().hex[:12], "OrderPlaced", f"o{i}", "u1", "c1", 40) for i in range(n)]
    try:
        started = time.perf_counter()
        for event in events:
            eventlog.publish(producer, topic, event)
        producer.flush(timeout=60)
        produce_s = time.perf_counter() - started
    finally:
        producer.close(timeout=5)
    started = time.perf_counter()
    got = eventlog.records(lab, topic)
    consume_s = time.perf_counter() - started
    if len(got) != n:
        raise RuntimeError(f"read {len(got)} of {n} records back")
    return n / produce_s, n / consume_s


def rebalance(lab) -> tuple[float, float]:
    topic = f"bench-group-{uuid.uuid4().hex[:8]}"
    lk.create_topic(lab, topic, partitions=3)
    group = consumer_groups.ConsumerGroup(lab, topic, f"bench-{uuid.uuid4().hex[:8]}")
    try:
        for name in ("m1", "m2", "m3"):
            group.add(name)
        group.wait_until_shared(members=3)
        group.kill("m2")
        killed_at = group.marks[-1][0]
        after_kill = group.wait_until_shared(members=2) - killed_at
        group.leave("m1")
        left_at = group.marks[-1][0]
        after_leave = group.wait_until_shared(members=1) - left_at
        return after_kill, after_leave
    finally:
        group.close()


def main() -> None:
    lab = labs.start("kafka", progress=False)
    n = bench.scaled(5000)
    rates = [throughput(lab, n) for _ in range(RUNS)]
    moves = [rebalance(lab) for _ in range(RUNS)]
    session_s = lk.consumer_settings(lab)["session_timeout_ms"] / 1000
    broker = "local Tansu" if lk.is_local_broker(lab) else "Apache Kafka"
    print(f"Kafka ({broker}), lesson 11's helpers, median of {RUNS} runs")
    print(f"  produce  {statistics.median(r[0] for r in rates):>9,.0f} events/s  ({n} events of ~110 B, acks=all)")
    print(f"  consume  {statistics.median(r[1] for r in rates):>9,.0f} events/s  (one consumer, 3 partitions)")
    print(f"  rebalance after a member is SIGKILLed  {statistics.median(m[0] for m in moves):.2f} s  "
          f"(runs: {', '.join(f'{m[0]:.2f}' for m in moves)}; session timeout {session_s:g} s)")
    print(f"  rebalance after a member leaves        {statistics.median(m[1] for m in moves):.2f} s  "
          f"(runs: {', '.join(f'{m[1]:.2f}' for m in moves)})")


if __name__ == "__main__":
    main()
