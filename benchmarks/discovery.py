"""`make bench`: service discovery (lesson 07) on etcd, HAProxy and the lab's DNS server.

etcd        spawn-to-ready of a fresh etcd (median of LABS_BENCH_RUNS, default 3) and its RSS once
            three instances keep their leases alive in it
watch       seconds from a put (just before it is sent) until a watching client has it: median, p99
removal     SIGKILL of a process holding a lease until etcd deletes its key, for TTL 2, 4 and 6 s
failover    errors per 1000 calls (100 calls/s, one instance of three SIGKILLed 2 s in, 1000 calls):
              client-side   balancing over a watched registry list, no retry / one retry elsewhere
              server-side   through HAProxy (active checks every 0.5 s, observe layer4, retries 0)
"""
from __future__ import annotations

import os
import statistics
import sys
import time

RUNS = int(os.environ.get("LABS_BENCH_RUNS", "3"))
TTL = 3


def etcd_start() -> tuple[float, float]:
    from labs.runtime.component import LocalComponent, get_spec
    from labs.runtime.lab import session_reaper
    readies = []
    for _ in range(RUNS):
        spec = get_spec("etcd")
        comp = LocalComponent(spec, spec.validate_options({}), session_reaper())
        comp.start()
        readies.append(comp.ready_seconds)
        comp.stop()
    return statistics.median(readies), max(readies)


def failover(lab, pick, retry_next: bool = False, calls: int = 1000) -> float:
    """Errors per 1000 calls at 100 calls/s, one instance of three SIGKILLed 2 s in."""
    from labs.clients import registry
    from labs.lessons import discovery
    victim = lab.replicas("concerts")[1]
    caller = discovery.Caller(pick, rate=100, retry_next=retry_next).start()
    time.sleep(2)
    discovery.kill(victim)
    while len(caller.calls) < calls:
        time.sleep(0.05)
    caller.stop(tail=0)
    counted = caller.calls[:calls]
    victim.start()
    discovery.wait_until(lambda: len(registry.up_in_haproxy(lab)) == 3, timeout=30)
    return 1000 * sum(1 for c in counted if not c.ok) / len(counted)


def main() -> None:
    os.environ.setdefault("LABS_PROGRESS", "0")
    import labs
    from labs.clients import registry
    from labs.lessons import discovery

    ready_median, ready_max = etcd_start()
    lab = labs.start("etcd", "concerts", "haproxy", "dns", progress=False,
                     options={"concerts": {"replicas": 3, "register_ttl": TTL}})
    etcd = registry.connect(lab)
    rss = lab.component("etcd").rss_bytes() / 2**20
    latencies = sorted(discovery.watch_latency(etcd, 200))
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    trials = discovery.removal_vs_ttl(lab, ttls=(2, 4, 6))
    pool = registry.WatchedPool(etcd, "concerts")
    proxy = lab.endpoint("haproxy")["http"]
    rows = [
        ("client-side, no retry", failover(lab, pool.next)),
        ("client-side, one retry on the next instance", failover(lab, pool.next, retry_next=True)),
        ("server-side, through HAProxy (retries 0)", failover(lab, lambda: proxy)),
    ]
    pool.close()
    load = os.getloadavg()[0]
    print(f"machine load (1-minute average) during the run: {load:.1f} on {os.cpu_count()} cores")
    print(f"etcd ready (spawn to a real read): median {ready_median:.2f} s, max {ready_max:.2f} s "
          f"over {RUNS} fresh starts; RSS {rss:.1f} MiB with 3 instances' leases")
    print(f"watch latency (put -> watching client): median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms over {len(latencies)} puts")
    print("removal after SIGKILL:  " + "  ".join(f"TTL {t.ttl} s -> {t.removal_s:.2f} s" for t in trials))
    print(f"failover, errors per 1000 calls (100 calls/s, 1 of 3 instances SIGKILLed, lease TTL {TTL} s):")
    for label, per_thousand in rows:
        print(f"  {label:<46} {per_thousand:6.1f}")


if __name__ == "__main__":
    sys.exit(main())
