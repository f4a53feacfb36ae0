"""REST/JSON against gRPC unary against gRPC streaming, on one operation: look up a concert.

    contenders = showdown.Contenders(lab)                   # straight to the concerts service
    slow = showdown.Contenders(lab, latency_ms=20)          # through chaos proxies adding 20 ms
    contenders.rest("c1"); contenders.unary("c1"); contenders.streamed("c1")
    showdown.payload_bytes(lab)                             # {"REST/JSON": ..., "gRPC/protobuf": ...}
    showdown.wire_bytes(lab)                                # bytes each way per call, counted by a proxy
    showdown.many_lookups(contenders, n=200)                # seconds for 200 answers, each way
    runs = showdown.interleaved(lab, contenders, n=300)     # {label: bench.Samples}, rounds taken in
                                                            # turn, with client and server CPU per call

The same concerts service answers all three (its FastAPI app and its gRPC server share one store),
so what differs is only the protocol stack: HTTP/1.1 + JSON through httpx and uvicorn, HTTP/2 +
protobuf through grpcio's C core, and a stream that stays open between questions.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import grpc
import httpx

from . import rpc
from ..protos import ticketing_pb2 as pb
from ..protos import ticketing_pb2_grpc as pb_grpc
from ..clients import chaos
from ..runtime import args

CONCERT = "c1"
REST, UNARY, STREAM = "REST/JSON", "gRPC unary", "gRPC stream"
MAX_LATENCY_MS = 1000


class Contenders:
    """The three ways to look up a concert, each on a kept connection. With `latency_ms` the calls go
    through chaos proxies that delay every answer by that much (the proxies are the lab's, reused)."""

    def __init__(self, lab: Any, latency_ms: float = 0):
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) \
                or not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"latency_ms must be from 0 to {MAX_LATENCY_MS}, got {latency_ms!r}")
        endpoint = lab.endpoint("concerts")
        http_url, grpc_address = endpoint["http"], endpoint["grpc"]
        self.proxies: list[chaos.Proxy] = []
        if latency_ms:
            http_proxy = chaos.proxy(lab, "concerts", port_key="http", name="showdown-http")
            grpc_proxy = chaos.proxy(lab, "concerts", port_key="grpc", name="showdown-grpc")
            for proxy in (http_proxy, grpc_proxy):
                proxy.add("latency", latency=latency_ms)
            self.proxies = [http_proxy, grpc_proxy]
            http_url, grpc_address = http_proxy.url_for(), grpc_proxy.address
        self.latency_ms = latency_ms
        self.http = httpx.Client(base_url=http_url, timeout=10)
        self.channel = grpc.insecure_channel(grpc_address)
        self.stub = pb_grpc.ConcertsStub(self.channel)
        self._checker: rpc.SeatChecker | None = None

    def rest(self, concert_id: str = CONCERT) -> dict:
        response = self.http.get(f"/concerts/{concert_id}")
        response.raise_for_status()
        return response.json()

    def unary(self, concert_id: str = CONCERT) -> pb.Concert:
        return rpc.get_concert(self.stub, concert_id)

    def streamed(self, concert_id: str = CONCERT) -> pb.Concert:
        """One question on the open CheckSeats stream, waiting for its answer (single caller only)."""
        if self._checker is None:
            self._checker = rpc.SeatChecker(self.stub)
        return self._checker.ask(concert_id)

    def close(self) -> None:
        if self._checker is not None:
            self._checker.close()
        self.http.close()
        self.channel.close()
        for proxy in self.proxies:
            proxy.clear()

    def __enter__(self) -> "Contenders":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def payload_bytes(lab: Any, concert_id: str = CONCERT) -> dict[str, int]:
    """The answer's body: JSON as the REST API sends it, the protobuf message gRPC sends."""
    with Contenders(lab) as contenders:
        body = contenders.http.get(f"/concerts/{concert_id}").content
        return {REST: len(body), "gRPC/protobuf": contenders.unary(concert_id).ByteSize()}


def wire_bytes(lab: Any, calls: int = 50) -> dict[str, float]:
    """Bytes per call on the TCP connection, both ways, headers and framing included, counted by a
    chaos proxy (without toxics) over `calls` calls after the connection is open."""
    args.whole("calls", calls, 1, 10_000)
    http_proxy = chaos.proxy(lab, "concerts", port_key="http", name="showdown-bytes-http")
    grpc_proxy = chaos.proxy(lab, "concerts", port_key="grpc", name="showdown-bytes-grpc")
    results = {}
    with httpx.Client(base_url=http_proxy.url_for(), timeout=10) as http, \
            grpc.insecure_channel(grpc_proxy.address) as channel:
        stub = pb_grpc.ConcertsStub(channel)
        checker = rpc.SeatChecker(stub)
        ways = ((REST, http_proxy, lambda: http.get(f"/concerts/{CONCERT}").raise_for_status()),
                (UNARY, grpc_proxy, lambda: rpc.get_concert(stub, CONCERT)),
                (STREAM, grpc_proxy, lambda: checker.ask(CONCERT)))
        for label, proxy, call in ways:
            call()  # connection and stream set up before counting
            time.sleep(0.05)  # let the proxy count what the set-up sent
            before = proxy.stats()
            for _ in range(calls):
                call()
            time.sleep(0.05)
            after = proxy.stats()
            moved = sum(after[k] - before[k] for k in ("bytes_upstream", "bytes_downstream"))
            results[label] = moved / calls
        checker.close()
    return results


WAYS = {REST: "rest", UNARY: "unary", STREAM: "streamed"}  # label -> Contenders method


def server_cpu_seconds(lab: Any, name: str = "concerts") -> float:
    """CPU seconds (user + system, every thread, finished ones too) the component's processes have
    used so far: read it before and after some calls to know what the server spent on them, whatever
    else the machine is doing."""
    import psutil

    total = 0.0
    for pid in lab.component(name).pids():
        try:
            process = psutil.Process(pid)
            for one in (process, *process.children(recursive=True)):
                total += _process_cpu_seconds(one)
        except psutil.NoSuchProcess:
            continue
    return total


def _process_cpu_seconds(process: Any) -> float:
    # The kernel's CPU-time clock of that process counts nanoseconds; psutil's cpu_times() counts
    # 10-ms clock ticks, too coarse for 60 calls of a third of a millisecond. Linux has the clock
    # (clock_getcpuclockid); elsewhere the ticks will do.
    clock = _cpu_clock_of(process.pid)
    if clock is not None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            pass
    times = process.cpu_times()
    return times.user + times.system


def _cpu_clock_of(pid: int) -> int | None:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        clock = ctypes.c_int()
        return clock.value if libc.clock_getcpuclockid(pid, ctypes.byref(clock)) == 0 else None
    except (OSError, AttributeError):
        return None


def interleaved(lab: Any, contenders: Contenders, n: int = 300, rounds: int = 5,
                labels: Sequence[str] = (REST, UNARY, STREAM), progress: bool = True) -> dict[str, Any]:
    """Time `n` look-ups each way, one caller, in `rounds` turns (REST, unary, stream, REST, ...), so a
    burst of load from elsewhere on the machine lands on every way alike. Each run (a bench.Samples)
    also carries the CPU this process (`cpu_seconds`) and the concerts service (`server_cpu_seconds`)
    spent on its calls: CPU per call hardly moves with load, where times and calls per second do."""
    from ..runtime.progress import bar
    from ..tools import bench

    args.whole("n", n, 1, 100_000)
    args.whole("rounds", rounds, 1, min(n, 100))
    unknown = [label for label in labels if label not in WAYS]
    if unknown or not labels:
        raise ValueError(f"labels must be some of {', '.join(WAYS)}; got {list(labels)!r}")
    calls = {label: getattr(contenders, WAYS[label]) for label in labels}
    for call in calls.values():
        for _ in range(10):  # connections, streams and caches warm before anything is counted
            call()
    runs = {label: bench.Samples(label, cpu_seconds=0.0, server_cpu_seconds=0.0) for label in labels}
    with bar(total=rounds * len(labels), desc="look-ups, ways in turn", unit="run", show=progress) as shown:
        for number in range(rounds):
            share = n // rounds + (number < n % rounds)
            for label, call in calls.items():
                server = server_cpu_seconds(lab)
                run = bench.measure(call, n=share, warmup=0, label=label, progress=False)
                runs[label].server_cpu_seconds += server_cpu_seconds(lab) - server
                runs[label].seconds += run.seconds
                runs[label].cpu_seconds += run.cpu_seconds
                shown.update(1)
    return runs


def many_lookups(contenders: Contenders, n: int = 100, concert_id: str = CONCERT) -> dict[str, float]:
    """Seconds to get `n` answers: `n` REST calls, `n` unary calls (each waits for the one before),
    and one CheckSeats stream carrying all `n` questions (sent without waiting)."""
    args.whole("n", n, 1, 100_000)
    timings = {}
    clock = time.perf_counter
    for label, one in ((REST, contenders.rest), (UNARY, contenders.unary)):
        started = clock()
        for _ in range(n):
            one(concert_id)
        timings[label] = clock() - started
    started = clock()
    answers = sum(1 for _ in rpc.check_seats(contenders.stub, [concert_id] * n, timeout=60))
    timings[STREAM] = clock() - started
    if answers != n:
        raise RuntimeError(f"the stream answered {answers} of {n} questions")
    return timings
