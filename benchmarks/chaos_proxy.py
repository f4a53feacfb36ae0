"""`make bench`: what the `chaos` fault proxy costs and how accurate its injected latency is.

A TCP echo/source server runs in a process of its own (so it does not share this process's GIL);
the `chaos` component runs as a lab component, one proxy in front of the server.

  overhead    round trips of a 4-byte ping, direct and through the proxy (no toxics), taking turns
              call by call; also Redis PING direct and through a proxy (a real lab component)
  accuracy    a latency toxic of 10, 50 and 200 ms on the downstream: measured added median vs asked
  throughput  one connection downloading LABS_BENCH_MB MiB from the source server, direct and proxied

Figures are medians (and p99) over LABS_BENCH_CALLS round trips (default 2000).
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER = r"""
import socket, struct, sys, threading
def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        first = conn.recv(65536)
        if first.startswith(b"SEND"):
            n = struct.unpack("!Q", first[4:12])[0]
            block = b"x" * 65536
            while n > 0:
                conn.sendall(block[:min(n, 65536)])
                n -= 65536
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)
            return
        data = first
        while data:
            conn.sendall(data)
            data = conn.recv(65536)
    except OSError:
        pass
    finally:
        conn.close()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def ping(s: socket.socket) -> float:
    t = time.perf_counter()
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        got += s.recv(4 - len(got))
    return (time.perf_counter() - t) * 1000


def interleaved(calls: dict[str, callable], n: int, warmup: int = 100) -> dict[str, list[float]]:
    for _ in range(warmup):
        for call in calls.values():
            call()
    out = {k: [] for k in calls}
    for _ in range(n):
        for k, call in calls.items():
            out[k].append(call())
    return out


def download(port: int, size: int) -> float:
    """MB/s (MiB) for one connection receiving `size` bytes."""
    import struct
    with connect(port) as s:
        t = time.perf_counter()
        s.sendall(b"SEND" + struct.pack("!Q", size))
        got = 0
        while got < size:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        took = time.perf_counter() - t
    assert got == size, (got, size)
    return size / took / 2**20


def main() -> None:
    import labs
    from labs import chaos

    n = max(200, int(os.environ.get("LABS_BENCH_CALLS", "2000")))
    mb = int(os.environ.get("LABS_BENCH_MB", "256"))
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        client = chaos.server()
        p = client.ensure("bench-echo", f"127.0.0.1:{port}")
        rows = []

        with connect(port) as d, connect(p.port) as q:
            got = interleaved({"direct": lambda: ping(d), "proxied": lambda: ping(q)}, n)
        rows.append(("TCP echo", got["direct"], got["proxied"]))

        lab = labs.start("redis", progress=False)
        import redis
        rp = chaos.proxy(lab, "redis", name="bench-redis")
        rd, rq = redis.Redis.from_url(lab.endpoint("redis")["url"]), redis.Redis.from_url(rp.url_for())

        def timed(r):
            t = time.perf_counter()
            r.ping()
            return (time.perf_counter() - t) * 1000
        got = interleaved({"direct": lambda: timed(rd), "proxied": lambda: timed(rq)}, n)
        rows.append(("Redis PING", got["direct"], got["proxied"]))

        print(f"\nchaos proxy overhead per round trip, no toxics ({n} calls, ms)")
        print(f"{'':12} {'direct med':>10} {'p99':>7} {'proxied med':>11} {'p99':>7} {'added med':>9}")
        for label, direct, proxied in rows:
            added = statistics.median(proxied) - statistics.median(direct)
            print(f"{label:12} {statistics.median(direct):10.3f} {pct(direct, 99):7.3f} "
                  f"{statistics.median(proxied):11.3f} {pct(proxied, 99):7.3f} {added:9.3f}")

        print("\ninjected latency (downstream latency toxic) vs measured added median, TCP echo")
        print(f"{'asked ms':>8} {'calls':>6} {'added med':>9} {'error ms':>8} {'error %':>7} {'p99':>8}  within 3% or 1 ms")
        with connect(p.port) as q:
            base = statistics.median(interleaved({"b": lambda: ping(q)}, 500)["b"])
            for asked in (10, 50, 200):
                calls = max(20, min(200, int(4000 / asked)))
                with p.toxic("latency", latency=asked):
                    got = interleaved({"t": lambda: ping(q)}, calls, warmup=2)["t"]
                added = statistics.median(got) - base
                err = added - asked
                ok = abs(err) <= max(1.0, 0.03 * asked)
                print(f"{asked:8} {calls:6} {added:9.3f} {err:8.3f} {100 * err / asked:7.2f} {pct(got, 99):8.3f}  "
                      f"{'yes' if ok else 'NO'}")

        size = mb * 2**20
        download(port, 8 << 20), download(p.port, 8 << 20)  # warm up
        direct = max(download(port, size) for _ in range(3))
        proxied = max(download(p.port, size) for _ in range(3))
        print(f"\nthroughput, one connection, {mb} MiB download (best of 3)")
        print(f"  direct  {direct:8.0f} MiB/s\n  proxied {proxied:8.0f} MiB/s  ({100 * proxied / direct:.0f}% of direct)")
        rd.close(), rq.close()
        client.delete("bench-echo")
        rp.delete()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
