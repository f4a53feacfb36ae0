"""`make bench`: RabbitMQ publish and consume throughput, with publisher confirms off and on, and the time
a restart takes with durable messages waiting (lessons 09 and 10).

publish (messages of ~12 bytes, one blocking pika connection unless noted):
  transient, no confirms        non-durable queue, delivery_mode 1: the broker keeps them in memory
  persistent, no confirms       durable queue, delivery_mode 2: written to disk, publisher never told
  persistent, confirm each      confirm_delivery(): each basic_publish waits for the broker's ack
  persistent, streaming confirms  up to 500 unconfirmed in flight (SelectConnection), acks counted as they come
consume: manual ack per message (prefetch 1000), and auto-ack.
restart: publish LABS_BENCH_RESTART_MESSAGES persistent confirmed messages, lab.restart("rabbitmq"), count
them back. Figures are the median of LABS_BENCH_RUNS runs (default 3).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

MESSAGES = int(os.environ.get("LABS_BENCH_MESSAGES", "5000"))
CONFIRM_EACH_MESSAGES = max(200, MESSAGES // 5)  # ~1 ms each: fewer, or this one row takes minutes
RESTART_MESSAGES = int(os.environ.get("LABS_BENCH_RESTART_MESSAGES", "10000"))
RUNS = int(os.environ.get("LABS_BENCH_RUNS", "3"))
QUEUE = "bench.rabbitmq"


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def publish_rate(lab, n: int, *, durable: bool, persistent: bool, confirms: bool) -> float:
    from labs.clients import rabbit
    with rabbit.channel(lab) as ch:
        rabbit.fresh_queue(ch, QUEUE, durable=durable)
        if confirms:
            ch.confirm_delivery()
        seconds = timed(lambda: [rabbit.publish(ch, QUEUE, {"n": i}, persistent=persistent) for i in range(n)])
        rabbit.wait_for_messages(lab, QUEUE, n)  # without confirms the last ones may still be in flight
    return n / seconds


def streaming_rate(lab, n: int) -> float:
    from labs.clients import rabbit
    with rabbit.channel(lab) as ch:
        rabbit.fresh_queue(ch, QUEUE, durable=True)
    bodies = [{"n": i} for i in range(n)]
    result = {}
    seconds = timed(lambda: result.update(count=rabbit.publish_streaming_confirms(lab, QUEUE, bodies)))
    assert result["count"].acked == n, result
    return n / seconds


def consume_rate(lab, n: int, *, auto_ack: bool) -> float:
    from labs.clients import rabbit
    with rabbit.channel(lab) as ch:
        rabbit.fresh_queue(ch, QUEUE)
        for i in range(n):
            rabbit.publish(ch, QUEUE, {"n": i})
    rabbit.wait_for_messages(lab, QUEUE, n)
    with rabbit.channel(lab) as ch:
        ch.basic_qos(prefetch_count=1000)
        got = 0
        started = time.perf_counter()
        for method, _props, _body in ch.consume(QUEUE, auto_ack=auto_ack):
            if not auto_ack:
                ch.basic_ack(method.delivery_tag)
            got += 1
            if got == n:
                break
        seconds = time.perf_counter() - started
        ch.cancel()
    return n / seconds


def restart_figures(lab) -> tuple[float, int]:
    """(seconds lab.restart took, messages counted back) with RESTART_MESSAGES durable messages waiting."""
    from labs.clients import rabbit
    from labs.lessons import queues
    with rabbit.channel(lab) as ch:
        rabbit.fresh_queue(ch, QUEUE, durable=True)
    rabbit.publish_streaming_confirms(lab, QUEUE, [{"n": i} for i in range(RESTART_MESSAGES)])
    seconds = queues.restart_broker(lab)
    back = len({d.body["n"] for d in rabbit.drain(lab, QUEUE)})
    return seconds, back


def main() -> int:
    os.environ.setdefault("LABS_PROGRESS", "0")
    import labs
    from labs.clients import rabbit

    lab = labs.start("rabbitmq", progress=False)
    rows = {
        "publish transient, no confirms": lambda: publish_rate(lab, MESSAGES, durable=False, persistent=False,
                                                               confirms=False),
        "publish persistent, no confirms": lambda: publish_rate(lab, MESSAGES, durable=True, persistent=True,
                                                                confirms=False),
        "publish persistent, confirm each": lambda: publish_rate(lab, CONFIRM_EACH_MESSAGES, durable=True,
                                                                 persistent=True, confirms=True),
        "publish persistent, streaming confirms": lambda: streaming_rate(lab, MESSAGES),
        "consume, manual ack": lambda: consume_rate(lab, MESSAGES, auto_ack=False),
        "consume, auto-ack": lambda: consume_rate(lab, MESSAGES, auto_ack=True),
    }
    print(f"RabbitMQ throughput, median of {RUNS} runs ({MESSAGES} messages; {CONFIRM_EACH_MESSAGES} for "
          "'confirm each'), messages per second")
    for label, run in rows.items():
        rates = [run() for _ in range(RUNS)]
        print(f"  {label:<42}{statistics.median(rates):>10,.0f}")
    restarts = [restart_figures(lab) for _ in range(RUNS)]
    seconds = statistics.median(s for s, _ in restarts)
    print(f"restart with {RESTART_MESSAGES:,} durable messages waiting: {seconds:.1f} s (median of {RUNS}); "
          f"messages back after each: {[back for _, back in restarts]}")
    with rabbit.channel(lab) as ch:
        ch.queue_delete(QUEUE)
    lab.stop()
    return 0 if all(back == RESTART_MESSAGES for _, back in restarts) else 1


if __name__ == "__main__":
    sys.exit(main())
