"""Lesson 13's capstone, the run: a design's order flow under a seeded fault schedule, measured.

    import labs
    from labs.lessons import capstone_run as cr
    lab = labs.start("gateway", "rabbitmq", "kafka", "chaos")
    report = cr.run(lab, design, seed=13)      # ~15 s: orders under faults, then the phone's screen
    report                                     # succeeded, p50/p99, availability vs hops, lost, protocols
    cr.SCHEDULE                                # what goes wrong, and when (fractions of the run)

The schedule, the same for every design (seeded, so two designs meet the same faults):
  * notifications is down from 25% to 60% of the run (a chaos proxy in front of it refuses connections;
    every caller, synchronous or a consumer, reaches it through that proxy), and 10 ms away otherwise;
  * payments fails 5% of charges with 503 / UNAVAILABLE (fault rules, seeded);
  * settlement takes 40 ms per record (fault rule: added latency);
  * analytics is rebuilt at 50% (or, on a busy machine, as soon as after that it holds a first seat
    change): its data is wiped, and it needs every seat change since the start.
Orders are placed at a steady pace by a few client threads, then the consumers get a few seconds to
catch up. Everything the order flow does is recorded with labs.trace, which is where the report
reads the synchronous hops from.

Layer: lessons (tools: trace, bench; clients: chaos, faults, gateway, ticketing).
"""
from __future__ import annotations

import contextlib
import contextvars
import statistics
import threading
import time
from typing import Any

from ..clients import chaos
from ..clients.faults import FaultRules
from ..clients.ticketing import RestTicketing
from ..runtime import args
from ..runtime.progress import bar as progress_bar
from ..runtime.progress import finish
from ..tools import bench, trace
from . import backoffice
from .capstone_design import GRPC, Design, unwirable
from .capstone_report import Report
from .capstone_wiring import USER, Destinations, Shop

SCHEDULE = {"outage": (0.25, 0.60), "rebuild_at": 0.5, "payments_error_rate": 0.05,
            "settlement_latency_ms": 40, "notifications_latency_ms": 10}
ORDERS = 100                 # per run, before LABS_BENCH_SCALE
MIN_ORDERS = 40              # fewer would leave a dozen orders in the outage: too few to read a share from
ORDERS_PER_S = 20            # the pace: 100 orders take 5 s
CLIENTS = 4
REBUILD_WAIT_S = 5.0         # the rebuild waits at most this long for analytics to hold something to lose
DRAIN_MAX_S = 8.0            # consumers get at most this long to catch up after the last order
DRAIN_QUIET_S = 1.5          # ... and stop being waited for once nothing moved for this long
PHONE_RTT_MS = 50            # the phone's network, on each of its requests
NEEDS = ("gateway", "orders", "rabbitmq", "kafka", "chaos")
_last: list[Report] = []


def _proxies(lab: Any) -> dict[str, Any]:
    found = {key: chaos.proxy(lab, "notifications", port_key=key, name=f"capstone-notifications-{key}")
             for key in ("http", "grpc")}
    for proxy in found.values():  # proxy() reuses a proxy as it was left: bring it back to normal
        proxy.enable()
        proxy.clear()
    return found


@contextlib.contextmanager
def _faults(lab: Any, office: Any, proxies: dict[str, Any], seed: int, schedule: dict):
    payments = FaultRules(lab, "payments")
    rate = schedule["payments_error_rate"]
    rules = [(payments, payments.add("POST /payments", error_rate=rate, http_status=503, seed=seed)),
             (payments, payments.add("/ticketing.v1.Payments/Charge", error_rate=rate, seed=seed)),
             (office.faults, office.faults.add("POST /settlement/records",
                                               added_latency_ms=schedule["settlement_latency_ms"]))]
    for proxy in proxies.values():
        proxy.add("latency", latency=schedule["notifications_latency_ms"], name="capstone_far")
    try:
        yield
    finally:
        for owner, rule_id in rules:
            with contextlib.suppress(Exception):
                owner.remove(rule_id)
        payments.close()
        for proxy in proxies.values():
            with contextlib.suppress(Exception):
                proxy.enable()
                proxy.clear()


def _place_all(shop: Shop, keys: list[str], duration: float, proxies: dict[str, Any], schedule: dict,
               progress: bool) -> tuple[list[dict], dict[str, float]]:
    """The orders at a steady pace from CLIENTS threads, while the schedule takes notifications down
    and rebuilds analytics. Times are seconds since the first order was due."""
    results: list[dict] = []
    marks: dict[str, float] = {}
    lock = threading.Lock()
    next_index = iter(range(len(keys)))
    t0 = time.monotonic() + 0.05
    bar = progress_bar(len(keys), desc="orders", unit="order", show=progress)

    def client() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            due = t0 + index * duration / len(keys)
            time.sleep(max(0.0, due - time.monotonic()))
            started = time.monotonic()
            outcome = shop.place(keys[index])
            ended = time.monotonic()
            with lock:
                results.append({"key": keys[index], "start": started - t0, "ms": (ended - started) * 1000, **outcome})
                bar.update(1)

    def faults() -> None:
        if schedule["outage"] is None:
            return
        for at, what in ((schedule["outage"][0], "down"), (schedule["outage"][1], "up")):
            time.sleep(max(0.0, t0 + at * duration - time.monotonic()))
            for proxy in proxies.values():
                if what == "down":
                    proxy.disable()
                else:
                    proxy.enable()
            marks[what] = time.monotonic() - t0

    def rebuild() -> None:
        # Analytics is rebuilt once it holds some history: a consumer still behind at rebuild_at (a
        # busy machine) would have nothing to lose, and a broker that forgets would go unnoticed.
        # Its own thread, so that waiting for the history does not move the outage.
        time.sleep(max(0.0, t0 + schedule["rebuild_at"] * duration - time.monotonic()))
        marks["history"] = _history(shop, "analytics")
        marks["wiped"] = shop.rebuild("analytics")
        marks["rebuild"] = time.monotonic() - t0

    # Each thread runs in a copy of this context: the recording trace is active in it, so every
    # call the orders make joins the run (a Context cannot be entered by two threads at once).
    threads = [threading.Thread(target=contextvars.copy_context().run, args=(client,), daemon=True)
               for _ in range(CLIENTS)]
    threads += [threading.Thread(target=contextvars.copy_context().run, args=(step,), daemon=True)
                for step in (faults, rebuild)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finish(bar)
    bar.close()
    marks["end"] = time.monotonic() - t0
    return sorted(results, key=lambda r: r["key"]), marks


def _history(shop: Shop, target: str) -> int:
    """Wait (at most REBUILD_WAIT_S) until `target` holds at least one record of this run; how many it holds.
    Asked from outside the run's trace (a fresh context): the asking is not part of the order flow."""
    office, outside = shop.destinations.office, contextvars.Context()
    deadline = time.monotonic() + REBUILD_WAIT_S
    while True:
        held = len(outside.run(office.ids, target))
        if held or time.monotonic() >= deadline:
            return held
        time.sleep(0.05)


def _drain(shop: Shop, destinations: Destinations, expected: set[str]) -> float:
    """Wait for the consumers to deliver what they hold: until every expected id arrived everywhere,
    or nothing moved for DRAIN_QUIET_S, or DRAIN_MAX_S. Returns the seconds waited."""
    started = time.monotonic()
    last_count, last_move = -1, started
    while time.monotonic() - started < DRAIN_MAX_S:
        if all(expected <= set(ids) for ids in destinations.delivered().values()):
            break
        count = shop.consumers_delivered()
        if count != last_count:
            last_count, last_move = count, time.monotonic()
        elif time.monotonic() - last_move >= DRAIN_QUIET_S:
            break
        time.sleep(0.2)
    return time.monotonic() - started


def screen(lab: Any, choice: Any, rounds: int = 3, rtt_ms: float = PHONE_RTT_MS) -> dict[str, Any]:
    """The phone opens its order's screen the way the design says, each of its requests crossing a
    phone network (a chaos proxy adding `rtt_ms`): through the gateway's BFF (one request), or
    straight to orders, users and notifications (three, REST or gRPC). Median ms of `rounds`."""
    import httpx

    args.whole("rounds", rounds, 1, 20)
    order = RestTicketing(lab).place_order(USER, "c1")  # the phone's own order, placed outside the run
    timings: list[float] = []
    with contextlib.ExitStack() as stack:
        if choice.gateway:
            from ..clients.gateway import issuer
            token = issuer().token(USER, client_id="mobile")
            edge = chaos.proxy(lab, "gateway", name="capstone-phone-gateway")
            edge.clear()
            stack.enter_context(edge.toxic("latency", latency=rtt_ms))
            api = stack.enter_context(httpx.Client(base_url=edge.url_for(), timeout=10,
                                                   headers={"authorization": f"Bearer {token}"}))
            calls = [lambda: api.get(f"/v1/screens/orders/{order.id}").raise_for_status()]
        else:
            key = "grpc" if choice.style == GRPC else "http"
            proxies = {name: chaos.proxy(lab, name, port_key=key, name=f"capstone-phone-{name}-{key}")
                       for name in ("orders", "users", "notifications")}
            for proxy in proxies.values():
                proxy.clear()
                stack.enter_context(proxy.toxic("latency", latency=rtt_ms))
            calls = _direct_calls(stack, proxies, key, order.id)
        for _ in range(rounds + 1):  # the first round opens the connections: not timed
            started = time.perf_counter()
            for call in calls:
                call()
            timings.append((time.perf_counter() - started) * 1000)
    return {"way": choice.label(), "requests": len(calls), "ms": statistics.median(timings[1:])}


def _direct_calls(stack: contextlib.ExitStack, proxies: dict[str, Any], key: str, order_id: str) -> list:
    if key == "http":
        import httpx
        clients = {n: stack.enter_context(httpx.Client(base_url=p.url_for(), timeout=10)) for n, p in proxies.items()}
        return [lambda: clients["orders"].get(f"/orders/{order_id}").raise_for_status(),
                lambda: clients["users"].get(f"/users/{USER}").raise_for_status(),
                lambda: clients["notifications"].get("/notifications", params={"user_id": USER}).raise_for_status()]
    import grpc

    from ..protos import ticketing_pb2 as pb
    from ..protos import ticketing_pb2_grpc as pb_grpc
    channels = {n: grpc.insecure_channel(p.url_for()) for n, p in proxies.items()}
    for channel in channels.values():
        stack.callback(channel.close)
    orders, users = pb_grpc.OrdersStub(channels["orders"]), pb_grpc.UsersStub(channels["users"])
    notes = pb_grpc.NotificationsStub(channels["notifications"])
    return [lambda: orders.GetOrder(pb.GetOrderRequest(order_id=order_id), timeout=10),
            lambda: users.GetUser(pb.GetUserRequest(user_id=USER), timeout=10),
            lambda: notes.List(pb.ListNotificationsRequest(user_id=USER), timeout=10)]


def check_wirable(design: Any, lab: Any = None) -> Design:
    """The design parsed and checked (ValueError naming what is wrong), and the lab it needs."""
    design = Design.parse(design)
    missing = [name for name in NEEDS if name not in getattr(lab, "names", NEEDS)]
    if missing:
        raise ValueError(f"the capstone needs {', '.join(NEEDS)} in the lab; start them with "
                         f"labs.start({', '.join(map(repr, NEEDS))}) (missing: {', '.join(missing)})")
    impossible = unwirable(design)
    if impossible:
        raise ValueError("this design cannot be wired: " + "; ".join(impossible.values()))
    return design


def _schedule(changes: dict | None) -> dict:
    schedule = {**SCHEDULE, **(changes or {})}
    unknown = set(schedule) - set(SCHEDULE)
    if unknown:
        raise ValueError(f"unknown schedule key(s) {', '.join(sorted(unknown))}; known: {', '.join(SCHEDULE)}")
    if schedule["outage"] is not None:
        down, up = schedule["outage"]
        args.number("outage start", down, 0, 1)
        args.number("outage end", up, down, 10)
    args.number("rebuild_at", schedule["rebuild_at"], 0, 1)
    args.number("payments_error_rate", schedule["payments_error_rate"], 0, 1)
    args.number("settlement_latency_ms", schedule["settlement_latency_ms"], 0, 5000)
    args.number("notifications_latency_ms", schedule["notifications_latency_ms"], 0, 5000)
    return schedule


def run(lab: Any, design: Any, seed: int = 13, orders: int | None = None, label: str = "your design",
        progress: bool = True, schedule: dict | None = None) -> Report:
    """Wire `design` on the lab's components, place its orders under SCHEDULE (seeded), measure.
    `schedule` changes parts of SCHEDULE (e.g. {"outage": None}: notifications never goes down)."""
    design = check_wirable(design, lab)
    schedule = _schedule(schedule)
    args.whole("seed", seed, 0, 2**31)
    count = args.whole("orders", orders if orders is not None else max(MIN_ORDERS, bench.scaled(ORDERS)), 10, 2000)
    duration = count / ORDERS_PER_S
    began = time.monotonic()
    office = backoffice.start()
    RestTicketing(lab).reset()  # seed data, no fault rules, no notifications
    office.reset()
    proxies = _proxies(lab)
    destinations = Destinations(lab, office, proxies["http"].url_for())
    shop = Shop(lab, design, destinations, proxies["grpc"].url_for())
    keys = [f"o-{n:04d}" for n in range(1, count + 1)]
    try:
        with _faults(lab, office, proxies, seed, schedule):
            shop.start()
            with trace.record(f"capstone: {label}", settle=3) as recording:
                results, marks = _place_all(shop, keys, duration, proxies, schedule, progress)
                succeeded = {r["key"] for r in results if r["ok"]}
                marks["drained_s"] = _drain(shop, destinations, succeeded)
            delivered = destinations.delivered()
    finally:
        shop.close()
    spans = recording.spans
    phone = screen(lab, design["order_screen"])
    report = Report(label=label, design=design, seed=seed, schedule=schedule, results=results, marks=marks,
                    duration=duration,
                    delivered=delivered, spans=spans, screen=phone, seconds=time.monotonic() - began)
    _last[:] = [report]
    return report


def one_order(lab: Any, design: Any, key: str = "o-one", wait_s: float = 3.0, label: str = "") -> Any:
    """One order of `design`, no faults, recorded: `.diagram()` draws what waited on what. Waits up to
    `wait_s` for the hand-offs to be delivered, so the consumers' side is in the drawing too."""
    design = check_wirable(design)
    args.seconds("wait_s", wait_s, 0, 30)
    office = backoffice.start()
    RestTicketing(lab).reset()
    office.reset()
    proxies = _proxies(lab)
    destinations = Destinations(lab, office, proxies["http"].url_for())
    shop = Shop(lab, design, destinations, proxies["grpc"].url_for()).start()

    def delivered_everywhere() -> bool:
        return all(key in ids for ids in destinations.delivered().values())

    try:
        with trace.record(f"one order{': ' + label if label else ''}") as recording:
            outcome = shop.place(key)
            # Ask from outside the trace (a fresh context), so the asking is not drawn.
            outside = contextvars.Context()
            deadline = time.monotonic() + wait_s
            while outcome["ok"] and time.monotonic() < deadline and not outside.run(delivered_everywhere):
                time.sleep(0.1)
    finally:
        shop.close()
    return recording


def last() -> Report | None:
    """The report of the last run in this kernel (the exercise check's, too)."""
    return _last[0] if _last else None
