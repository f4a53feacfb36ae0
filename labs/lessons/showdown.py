"""REST/JSON against gRPC unary against gRPC streaming, on one operation: look up a concert.

    contenders = showdown.Contenders(lab)                   # straight to the concerts service
    slow = showdown.Contenders(lab, latency_ms=20)          # through chaos proxies adding 20 ms
    contenders.rest("c1"); contenders.unary("c1"); contenders.streamed("c1")
    showdown.payload_bytes(lab)                             # {"REST/JSON": ..., "gRPC/protobuf": ...}
    showdown.wire_bytes(lab)                                # bytes each way per call, counted by a proxy
    showdown.many_lookups(contenders, n=200)                # seconds for 200 answers, each way
    table, runs = showdown.screen_table(lab)                # lesson 06: the order screen over REST,
                                                            # gRPC and GraphQL (and its gateway hop)
    showdown.far_screens(lab, latency_ms=100)               # ... for a client 100 ms away
    runs = showdown.interleaved(lab, contenders, n=300)     # {label: bench.Samples}, rounds taken in
                                                            # turn, with client and server CPU per call

The same concerts service answers all three (its FastAPI app and its gRPC server share one store),
so what differs is only the protocol stack: HTTP/1.1 + JSON through httpx and uvicorn, HTTP/2 +
protobuf through grpcio's C core, and a stream that stays open between questions.

Layer: lessons.
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
from ..runtime.progress import bar as progress_bar
from ..tools import bench

CONCERT = "c1"
REST, UNARY, STREAM = "REST/JSON", "gRPC unary", "gRPC stream"
MAX_LATENCY_MS = 1000
ROUNDS = 5


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


# ---- the order screen, three ways (lesson 06) -----------------------------------------------------

SCREEN_REST, SCREEN_GRPC = "REST (3 GETs)", "gRPC (3 unary calls)"
SCREEN_GRAPHQL, SCREEN_DIRECT = "GraphQL via the gateway", "GraphQL subgraphs, direct (no gateway)"
SCREEN_WAYS = (SCREEN_REST, SCREEN_GRPC, SCREEN_GRAPHQL, SCREEN_DIRECT)
# In the graph's seed o1 is u1 (Ada Lovelace) on c1; the REST order is placed alike. u1 and c1 are the
# seed's deep pockets and big venue, so repeated runs never run out of credits or seats.
GRAPH_ORDER = "o1"
# The two requests the gateway sends for the screen (its query plan), sent straight to the subgraphs.
_ORDERS_PART = "query($id: ID!) { order(id: $id) { id status amount user { id } concert { title seatsLeft } } }"
_USERS_PART = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { name } } }"


class ScreenContenders:
    """The order screen (an order, its user's name, its concert) fetched four ways on kept connections:
    REST (3 GETs: the order, then its user and concert), gRPC (the same 3 calls, unary), GraphQL through
    the gateway (1 POST), and the gateway's own 2 subgraph requests sent straight to the subgraphs (the
    gateway's hop taken out). With `counted=True` every connection goes through a chaos proxy, so the
    bytes both ways can be read (`wire_bytes`); time the calls without it. With `latency_ms` those
    proxies delay every answer to the client by that much (a client far away; the gateway's own calls
    to its subgraphs stay on loopback, as in a data centre)."""

    REQUESTS = {SCREEN_REST: 3, SCREEN_GRPC: 3, SCREEN_GRAPHQL: 1, SCREEN_DIRECT: 2}

    def __init__(self, lab: Any, counted: bool = False, latency_ms: float = 0):
        args.number("latency_ms", latency_ms, 0, MAX_LATENCY_MS, " ms")
        from ..clients.ticketing import RestTicketing
        from ..protos import ticketing_pb2_grpc as pbg

        with RestTicketing(lab) as shop:
            self.rest_order = shop.place_order("u1", "c1").id
        self.proxies: dict[str, list[chaos.Proxy]] = {way: [] for way in SCREEN_WAYS}

        def address(component: str, key: str, way: str) -> str:
            if not counted and not latency_ms:
                return lab.endpoint(component)[key]
            kind = f"far{latency_ms:g}" if latency_ms else "counted"
            proxy = chaos.proxy(lab, component, port_key=key, name=f"screen-{kind}-{component}-{key}")
            proxy.clear()
            if latency_ms:
                proxy.add("latency", latency=latency_ms)
            self.proxies[way].append(proxy)
            return proxy.url_for()

        self.http = {name: httpx.Client(base_url=address(name, "http", SCREEN_REST), timeout=10)
                     for name in ("orders", "users", "concerts")}
        self.channels = [grpc.insecure_channel(address(name, "grpc", SCREEN_GRPC))
                         for name in ("orders", "users", "concerts")]
        self.stubs = (pbg.OrdersStub(self.channels[0]), pbg.UsersStub(self.channels[1]),
                      pbg.ConcertsStub(self.channels[2]))
        self.gateway = httpx.Client(base_url=address("graphql", "http", SCREEN_GRAPHQL), timeout=10)
        self.subgraphs = {name: httpx.Client(base_url=address(name, "http", SCREEN_DIRECT), timeout=10)
                          for name in ("orders-graph", "users-graph")}

    def rest(self) -> dict:
        order = self.http["orders"].get(f"/orders/{self.rest_order}").raise_for_status().json()
        user = self.http["users"].get(f"/users/{order['user_id']}").raise_for_status().json()
        concert = self.http["concerts"].get(f"/concerts/{order['concert_id']}").raise_for_status().json()
        return {"order": order, "user": user, "concert": concert}

    def grpc(self) -> tuple:
        orders, users, concerts = self.stubs
        order = orders.GetOrder(pb.GetOrderRequest(order_id=self.rest_order), timeout=rpc.TIMEOUT)
        user = users.GetUser(pb.GetUserRequest(user_id=order.user_id), timeout=rpc.TIMEOUT)
        return order, user, rpc.get_concert(concerts, order.concert_id)

    def graphql(self) -> dict:
        from ..components.graphql.queries import ORDER_SCREEN

        answer = self.gateway.post("/graphql", json={"query": ORDER_SCREEN, "variables": {"id": GRAPH_ORDER}})
        return _graph_data(answer)

    def direct(self) -> dict:
        order = _graph_data(self.subgraphs["orders-graph"].post(
            "/graphql", json={"query": _ORDERS_PART, "variables": {"id": GRAPH_ORDER}}))["order"]
        representation = {"__typename": "User", "id": order["user"]["id"]}
        users = _graph_data(self.subgraphs["users-graph"].post(
            "/graphql", json={"query": _USERS_PART, "variables": {"r": [representation]}}))
        return {**order, "user": users["_entities"][0]}

    def calls(self) -> dict[str, Any]:
        return {SCREEN_REST: self.rest, SCREEN_GRPC: self.grpc, SCREEN_GRAPHQL: self.graphql,
                SCREEN_DIRECT: self.direct}

    def wire_bytes(self, screens: int = 20) -> dict[str, float]:
        """Bytes per screen on the wire, both ways, headers and framing included (needs counted=True)."""
        args.whole("screens", screens, 1, 10_000)
        if not any(self.proxies.values()):
            raise ValueError("wire_bytes needs ScreenContenders(lab, counted=True): only proxies see the wire")
        results = {}
        for way, call in self.calls().items():
            call()  # connections open before counting
            time.sleep(0.05)
            before = [p.stats() for p in self.proxies[way]]
            for _ in range(screens):
                call()
            time.sleep(0.05)
            after = [p.stats() for p in self.proxies[way]]
            moved = sum(a[k] - b[k] for a, b in zip(after, before) for k in ("bytes_upstream", "bytes_downstream"))
            results[way] = moved / screens
        return results

    def close(self) -> None:
        for client in [*self.http.values(), self.gateway, *self.subgraphs.values()]:
            client.close()
        for channel in self.channels:
            channel.close()
        for proxy in (p for proxies in self.proxies.values() for p in proxies):
            proxy.clear()

    def __enter__(self) -> "ScreenContenders":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _graph_data(response: httpx.Response) -> dict:
    body = response.raise_for_status().json()
    if body.get("errors") or not body.get("data"):
        raise RuntimeError(f"the GraphQL answer has errors: {body.get('errors')}")
    return body["data"]


def screen_table(lab: Any, screens: int = 100, wire_screens: int = 20, progress: bool = True):
    """The three-way table for the order screen on this machine: requests, median and p99 ms, bytes
    on the wire per screen, and what the gateway hop adds (gateway median - direct median).
    Returns (DataFrame, {way: bench.Samples})."""
    import pandas as pd

    args.whole("screens", screens, 1, 100_000)
    args.whole("wire_screens", wire_screens, 1, 10_000)
    rounds = min(ROUNDS, screens)
    runs = {way: bench.Samples(way) for way in SCREEN_WAYS}
    # Interleaved rounds: a burst of load from elsewhere on the machine lands on every way alike.
    with ScreenContenders(lab) as contenders, \
            progress_bar(total=rounds * len(SCREEN_WAYS), desc="order screen, 4 ways", unit="run",
                         show=progress) as bar:
        for round_number in range(rounds):
            share = screens // rounds + (round_number < screens % rounds)
            for way, call in contenders.calls().items():
                run = bench.measure(call, n=share, warmup=5 if round_number == 0 else 1, label=way, progress=False)
                runs[way].seconds += run.seconds
                bar.update(1)
    with ScreenContenders(lab, counted=True) as counted:
        wire = counted.wire_bytes(wire_screens)
    hop = runs[SCREEN_GRAPHQL].median_ms - runs[SCREEN_DIRECT].median_ms
    rows = [{"way": way, "requests": ScreenContenders.REQUESTS[way], "median_ms": runs[way].median_ms,
             "p99_ms": runs[way].p99_ms, "wire_bytes": wire[way],
             "gateway_hop_ms": hop if way == SCREEN_GRAPHQL else None} for way in SCREEN_WAYS]
    frame = pd.DataFrame(rows).set_index("way").round({"median_ms": 2, "p99_ms": 2, "wire_bytes": 0,
                                                       "gateway_hop_ms": 2})
    return frame, runs


def far_screens(lab: Any, latency_ms: float = 100, screens: int = 5, progress: bool = True) -> dict[str, float]:
    """Median milliseconds per order screen for a client `latency_ms` away from the servers (a chaos
    proxy delays each answer): REST's three round trips against GraphQL's one through the gateway."""
    args.whole("screens", screens, 1, 1000)
    with ScreenContenders(lab, latency_ms=latency_ms) as far:
        ways = {SCREEN_REST: far.rest, SCREEN_GRAPHQL: far.graphql}
        return {way: bench.measure(call, n=screens, warmup=1, label=f"{way}, {latency_ms:g} ms away",
                                   progress=progress).median_ms for way, call in ways.items()}
