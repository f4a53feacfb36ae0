"""`make bench`: seconds `lab.reset()` takes with every component running and state broken in each
(median of 5): 10 queues with 1000 messages, 20 topics, 1000 Redis keys, toxics, fault rules, seats."""
from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

# Run as a script, this folder heads sys.path, where benchmarks/kafka.py would shadow kafka-python.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import pika  # noqa: E402
import redis  # noqa: E402

import labs  # noqa: E402
from labs import chaos  # noqa: E402
from labs.clients import kafka as lk  # noqa: E402
from labs.clients.faults import FaultRules  # noqa: E402

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "5"))


def break_state(lab) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(lab.endpoint("rabbitmq")["amqp"]))
    ch = conn.channel()
    for q in range(10):
        ch.queue_declare(f"bench-{q}", durable=True)
        for _ in range(100):
            ch.basic_publish("", f"bench-{q}", b"x" * 200, pika.BasicProperties(delivery_mode=2))
    conn.close()
    r = redis.Redis.from_url(lab.endpoint("redis")["url"])
    r.mset({f"bench:{i}": i for i in range(1000)})
    r.close()
    for _ in range(20):
        lk.create_topic(lab, f"bench-{uuid.uuid4().hex[:8]}", partitions=3)
    for service in ("users", "payments"):
        chaos.proxy(lab, service).add("latency", latency=200)
    FaultRules(lab, "payments").add("POST /payments", error_rate=0.5, http_status=503)
    for user in ("u1", "u2", "u3"):
        httpx.post(lab.endpoint("concerts")["http"] + "/concerts/c1/reservations", json={"user_id": user})


def main() -> None:
    lab = labs.start()
    times = []
    for _ in range(RUNS):
        break_state(lab)
        started = time.perf_counter()
        report = lab.reset()
        times.append(time.perf_counter() - started)
    print(report)
    print(f"\nlab.reset() of {len(lab.names)} components with state broken in each: median "
          f"{statistics.median(times):.2f} s over {RUNS} runs ({', '.join(f'{t:.2f}' for t in times)}); "
          f"load average {os.getloadavg()[0]:.1f}")
    lab.stop()


if __name__ == "__main__":
    main()
