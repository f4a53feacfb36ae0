"""Lesson 12's order saga, running: one style's services as processes around one RabbitMQ topic exchange.

Layer: lessons (labs.clients.rabbit, the saga services in labs.components.sagas, the runtime's children).

    import labs
    from labs.lessons import sagas
    lab = labs.start("rabbitmq")
    shop = sagas.Shop(lab, "choreography")            # orders, concerts, payments, notifications
    order = shop.place("u01", "c1")                    # publishes order.place; returns the order
    shop.wait([order])                                 # until it is CONFIRMED or REJECTED
    shop.story(order)                                  # what each service's own database says about it
    shop.kill("payments"); shop.restart("payments")    # SIGKILL, then the same service on the same data
    shop.settle()                                      # until no message is left on its way
    shop.close()

Every service is `python -m labs.components.sagas.service` (labs.runtime.child.Child: it dies with the
kernel, also on SIGKILL) with its SQLite file in the shop's temp dir under the lab's state dir. A service
that stops at a scheduled crash point is SIGKILLed and started again by the shop's supervisor thread.
The lesson's other modules: saga_views (tables, plots, "where is order 42?"), saga_checker (the
consistency checker under seeded faults) and saga_crashes (the orchestrator killed mid-saga).
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

import pika.exceptions

from ..clients import rabbit
from ..components.sagas import bus, domain, flows
from ..components.sagas.flows import ORDER_SAGA, STYLES, Step  # noqa: F401  (the notebook's names)
from ..runtime import Lab, LabError, args, state_root, trace_dir
from ..runtime.child import Child, ChildExited
from ..runtime.lab import session_reaper
from ..runtime.progress import bar as progress_bar
from ..runtime.waiting import poll_until

SERVICE_MODULE = "labs.components.sagas.service"
START_TIMEOUT_S = 30.0
MAX_SAGAS = 5_000
_open: dict[tuple[str, str], "Shop"] = {}  # (style, label) -> the shop a re-run cell replaces


def services_of(style: str) -> tuple[str, ...]:
    return (flows.coordinator(args.choice("style", style, STYLES)), *domain.PARTICIPANTS)


def new_id() -> str:
    """A fresh order id, so a cell run twice places a new order."""
    return f"o-{uuid.uuid4().hex[:6]}"


def new_order(user_id: str, concert_id: str, order_id: str | None = None) -> dict:
    """An order as the saga's messages carry it: id, user, concert, amount (the concert's price), placed_at."""
    return domain.order(order_id or new_id(), user_id, concert_id)


def _order_id(order: dict | str) -> str:
    return order["order_id"] if isinstance(order, dict) else str(order)


class Shop:
    """The order saga in one style, running: its exchange and queues, and one process per service.

    outbox / dedupe switch the protections off (see labs.components.sagas.store); saga is the
    orchestrator's list of Steps; faults {service: {"crash"|"lost_ack"|"resend": [[order_id, action]]}};
    links {service: amqp URL} lets a service reach RabbitMQ another way (through a chaos proxy).
    auto_restart=False leaves a service that reached a crash point down (SIGKILLed) until restart().
    """

    def __init__(self, lab: Lab | dict | str, style: str, *, outbox: bool = True, dedupe: bool = True,
                 saga: Iterable = ORDER_SAGA, faults: dict | None = None, links: dict | None = None,
                 prefetch: int = 50, label: str | None = None, progress: bool = True,
                 auto_restart: bool = True) -> None:
        self.style = args.choice("style", style, STYLES)
        self.url = rabbit.amqp_url(lab)
        self.outbox, self.dedupe = bool(outbox), bool(dedupe)
        self.saga = flows.saga_config(saga)
        self.services = services_of(style)
        self.coordinator = self.services[0]
        unknown = set(faults or {}) | set(links or {})
        if unknown - set(self.services):
            raise ValueError(f"faults and links name services of {style}: {', '.join(self.services)}; "
                             f"got {', '.join(sorted(unknown - set(self.services)))}")
        self.faults = {s: {k: [list(f) for f in v] for k, v in (faults or {}).get(s, {}).items()}
                       for s in self.services}
        self.links = dict(links or {})
        self.prefetch = args.whole("prefetch", prefetch, 1, 1000)
        self.auto_restart = bool(auto_restart)
        self.label = args.text("label", label or style)
        previous = _open.pop((style, self.label), None)
        if previous is not None:
            previous.close()  # the same cell run again: one shop per label
        self.exchange = f"shop-{style[:6]}-{uuid.uuid4().hex[:6]}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.exchange}-", dir=state_root()))
        session_reaper().remove_dir_later(str(self.dir))
        self.crashes: list[dict] = []       # the crash points reached (each followed by a SIGKILL and a restart)
        self.failures: list[str] = []       # services that died on their own, with their last words
        self.children: dict[str, Child] = {}
        self._lock = threading.RLock()
        self._down: set[str] = set()        # killed on purpose: not a failure
        self._restarts = 0                  # crash restarts under way
        self._connection: Any = None
        self._channel: Any = None
        with rabbit.channel(self.url) as ch:
            self.queues = bus.declare(ch, self.exchange, flows.bindings(style))
        self._stop = threading.Event()
        try:
            with progress_bar(len(self.services), f"starting the {style} services", "service",
                              show=progress) as bar:
                started = {s: self._spawn(s) for s in self.services}  # all at once, then wait for each
                for service, child in started.items():
                    self._await_ready(service, child)
                    bar.update(1)
        except BaseException:
            self.close()  # the services that did start, the queues, the files
            raise
        self._supervisor = threading.Thread(target=self._supervise, name=f"supervisor-{self.exchange}", daemon=True)
        self._supervisor.start()
        _open[(style, self.label)] = self

    # ---------------------------------------------------------------- the processes

    def db(self, service: str) -> str:
        """The path of a service's SQLite file."""
        return str(self.dir / f"{args.choice('service', service, self.services)}.sqlite")

    def config(self, service: str) -> dict:
        return {"service": service, "style": self.style, "amqp": self.links.get(service, self.url),
                "exchange": self.exchange, "db": self.db(service), "outbox": self.outbox, "dedupe": self.dedupe,
                "saga": self.saga, "prefetch": self.prefetch, "faults": self.faults[service]}

    def _spawn(self, service: str) -> Child:
        import json
        child = Child(SERVICE_MODULE, json.dumps(self.config(service)), name=service,
                      env={"LABS_TRACE_DIR": str(trace_dir())})
        self.children[service] = child
        return child

    def _await_ready(self, service: str, child: Child) -> dict:
        try:
            return child.wait_for("ready", timeout=START_TIMEOUT_S)
        except (ChildExited, TimeoutError) as exc:
            child.kill()
            raise LabError(f"the {service} service did not start: {exc}") from None

    def _supervise(self) -> None:
        """Restart a service that reached a crash point (after SIGKILLing it); note one that died."""
        while not self._stop.wait(0.02):
            with self._lock:
                for service, child in list(self.children.items()):
                    if service in self._down:
                        continue
                    if child.count("crash-point"):
                        self._crash_and_restart(service, child)
                    elif not child.alive and not self._stop.is_set():
                        self.failures.append(f"{service} exited with code {child.exit_code}: {child.last_words(3)}")
                        self._down.add(service)

    def _crash_and_restart(self, service: str, child: Child) -> None:
        self._restarts += 1
        try:
            self._kill_and_restart(service, child)
        finally:
            self._restarts -= 1

    def _kill_and_restart(self, service: str, child: Child) -> None:
        point = child.wait_for("crash-point", timeout=1)
        point["killed_at"] = child.kill()
        fired = [point["order_id"], point["action"]]
        self.faults[service]["crash"] = [f for f in self.faults[service].get("crash", []) if f != fired]
        if not self.auto_restart:
            self._down.add(service)
            self.crashes.append(point)
            return
        try:
            point["ready"] = self._await_ready(service, self._spawn(service))
        except LabError as exc:
            self.failures.append(str(exc))
            self._down.add(service)
        point["restarted_in"] = time.time() - point["killed_at"]
        self.crashes.append(point)

    def wait_for_crash(self, service: str, timeout: float = 10.0) -> dict:
        """Wait until `service` reached its crash point and was SIGKILLed; returns the point."""
        args.choice("service", service, self.services)
        ok = poll_until(lambda: any(p["service"] == service for p in self.crashes), timeout)
        self.check_alive()
        if not ok:
            raise LabError(f"{service} did not reach its crash point within {timeout:g} s: "
                           f"is the order on its way to it? {self.faults[service]}")
        return next(p for p in self.crashes if p["service"] == service)

    def duplicates(self, service: str) -> list[str]:
        """The message ids `service` received again and skipped (its inbox knew them), since it started."""
        child = self.children[args.choice("service", service, self.services)]
        return [e["msg_id"] for e in list(child.events) if e.get("event") == "duplicate"]

    def wait_for_duplicate(self, service: str, msg_id: str, timeout: float = 10.0) -> bool:
        """Wait until `service` has received `msg_id` again and skipped it; False after `timeout` s
        (a service without dedupe never skips anything: it handles the copy)."""
        return poll_until(lambda: msg_id in self.duplicates(service), args.seconds("timeout", timeout, 0, 600))

    def wait_until(self, condition, timeout: float = 10.0) -> None:
        """Wait until `condition()` is true; LabError (with each service's state) after `timeout` s."""
        if not poll_until(condition, args.seconds("timeout", timeout, 0, 600), 0.02):
            self.check_alive()
            raise LabError(f"the shop did not get there within {timeout:g} s")

    def kill(self, service: str) -> float:
        """SIGKILL a service (a crash); it stays down until restart(). Returns when (time.time())."""
        with self._lock:
            self._down.add(args.choice("service", service, self.services))
            return self.children[service].kill()

    def restart(self, service: str) -> dict:
        """Start a service again on its database and queue; returns its "ready" report (for the
        orchestrator: how many commands it sent again)."""
        with self._lock:
            args.choice("service", service, self.services)
            if self.children[service].alive:
                self.children[service].kill()
            ready = self._await_ready(service, self._spawn(service))
            self._down.discard(service)
            return ready

    def check_alive(self) -> None:
        """Raise LabError when a service died on its own (a crash not scheduled), or when services
        lost RabbitMQ and it does not answer (they keep trying for a while: a restart is survived)."""
        if self.failures:
            raise LabError("a saga service stopped: " + " | ".join(self.failures[:2]) +
                           " (once RabbitMQ runs again, create the shop again: its services have exited)")
        for child in list(self.children.values()):
            last = next((e["event"] for e in reversed(child.events) if e.get("event") in ("ready", "broker-lost")),
                        None)
            if last == "broker-lost":
                try:
                    rabbit.connect(self.url).close()
                except LabError as exc:
                    raise LabError(f"the {self.style} services lost RabbitMQ: {exc}. They keep trying to "
                                   f"reconnect for {bus.RECONNECT_S:.0f} s, and go on where they stopped") from None

    # ---------------------------------------------------------------- orders in, outcomes out

    def _publishing_channel(self) -> Any:
        # A notebook may sit idle past the broker's heartbeat: open again when the connection closed.
        if self._connection is None or self._connection.is_closed or self._channel.is_closed:
            self._connection = rabbit.connect(self.url)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def place(self, user_id: str, concert_id: str, order_id: str | None = None) -> dict:
        """Publish an order.place request (persistent, confirmed); the saga starts from there."""
        order = new_order(user_id, concert_id, order_id)
        body = {"msg_id": f"{order['order_id']}:place", "type": "order.place", "order": order}
        for attempt in (1, 2):
            try:
                rabbit.publish(self._publishing_channel(), "order.place", body, exchange=self.exchange,
                               persistent=True, sender="customer")
                return order
            except (pika.exceptions.StreamLostError, pika.exceptions.ConnectionClosed,
                    pika.exceptions.ChannelClosed):
                self._connection = None
                if attempt == 2:
                    raise
        return order

    def statuses(self) -> dict[str, str]:
        """{order_id: PENDING / RUNNING / COMPENSATING / CONFIRMED / REJECTED}, from the coordinator."""
        orders = domain.snapshot(self.coordinator, self.db(self.coordinator))["orders"]
        return {order_id: row["status"] for order_id, row in orders.items()}

    def unfinished(self, orders: Iterable[dict | str]) -> list[str]:
        status = self.statuses()
        return [o for o in map(_order_id, orders) if status.get(o) not in flows.FINAL]

    def wait(self, orders: Iterable[dict | str], timeout: float = 30.0, quiet: float | None = None,
             ended: Callable[[int], Any] | None = None) -> bool:
        """Wait until every order has ended (True), or `timeout` s passed, or (with `quiet`) nothing
        ended for `quiet` s while no service was being restarted (False). `ended(n)` hears how many
        have ended so far (a progress bar). Raises LabError when a service died on its own."""
        ids = [_order_id(o) for o in orders]
        deadline = time.monotonic() + args.seconds("timeout", timeout, 0, 3600)
        left, moved = len(ids), time.monotonic()
        while True:
            self.check_alive()
            now_left = len(self.unfinished(ids))
            if ended is not None:
                ended(len(ids) - now_left)
            if now_left == 0:
                return True
            if now_left < left or self._restarting():
                left, moved = now_left, time.monotonic()
            if time.monotonic() > deadline or (quiet is not None and time.monotonic() - moved > quiet):
                return False
            time.sleep(0.01)

    def settle(self, timeout: float = 15.0, still: float = 0.5) -> bool:
        """Wait until no message is on its way (True; False after `timeout` s): every queue empty and
        every running service idle since its last delivery, twice `still` s apart with nothing handled
        in between. A saga can end while copies of its messages (a resend, a redelivery) still wait in
        a queue; read the final state only once they have been handled too."""
        args.seconds("timeout", timeout, 0, 600)
        args.positive_seconds("still", still)
        deadline, before = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            self.check_alive()
            now = self._quiet_mark()
            if now is not None and now == before:
                return True
            before = now
            time.sleep(still if now is not None else 0.05)
        return False

    def _quiet_mark(self) -> tuple | None:
        """(events said by each running service) when every one of them last said "idle" and every
        queue is empty; None while something is still moving."""
        with self._lock:
            running = {s: c for s, c in self.children.items() if s not in self._down and c.alive}
        mark = []
        for service, child in sorted(running.items()):
            events = list(child.events)
            if not events or events[-1].get("event") != "idle":
                return None
            mark.append((service, len(events)))
        with rabbit.channel(self.url) as ch:
            for queue in self.queues.values():
                if ch.queue_declare(queue, passive=True).method.message_count:
                    return None
        return tuple(mark)

    def _restarting(self) -> bool:
        return self._restarts > 0 or any(c.count("crash-point") and c.alive for c in self.children.values())

    def timings(self, orders: Iterable[dict | str]) -> dict[str, float]:
        """{order_id: seconds from placing it to its end} for the orders that ended."""
        rows = domain.snapshot(self.coordinator, self.db(self.coordinator))["orders"]
        return {o: rows[o]["finished_at"] - rows[o]["placed_at"] for o in map(_order_id, orders)
                if o in rows and rows[o]["finished_at"]}

    def story(self, order: dict | str) -> dict[str, Any]:
        """What each service's own database says about one order."""
        order_id = _order_id(order)
        state = self.snapshot()
        return {
            self.coordinator: state[self.coordinator]["orders"].get(order_id, {}).get("status"),
            "concerts": [h["status"] for h in state["concerts"]["holds"] if h["order_id"] == order_id],
            "payments": [c["status"] for c in state["payments"]["charges"] if c["order_id"] == order_id],
            "notifications": state["notifications"]["tickets"].count(order_id),
        }

    def snapshot(self) -> dict[str, dict]:
        """Every service's state, read from its own database."""
        return {s: domain.snapshot(s, self.db(s)) for s in self.services}

    def close(self) -> None:
        """Stop the services, delete the exchange and queues and the databases."""
        self._stop.set()
        if getattr(self, "_supervisor", None) is not None:
            self._supervisor.join(2)
        stopping = [threading.Thread(target=child.stop, kwargs={"timeout": 3}, daemon=True)
                    for child in self.children.values() if child.alive]  # all at once: each exits in ~50 ms
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
        try:
            with rabbit.channel(self.url) as ch:
                bus.remove(ch, self.exchange, list(self.services))
        except (LabError, pika.exceptions.AMQPError):
            pass  # the broker is gone: nothing of ours is left in it to delete
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except pika.exceptions.AMQPError:
                pass  # the broker went away under it
        shutil.rmtree(self.dir, ignore_errors=True)
        if _open.get((self.style, self.label)) is self:
            del _open[(self.style, self.label)]

    def __enter__(self) -> "Shop":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        alive = [s for s, c in self.children.items() if c.alive]
        return (f"<Shop {self.style} on exchange {self.exchange}: {', '.join(alive)} running"
                f"{'' if self.outbox else ', no outbox'}{'' if self.dedupe else ', no dedupe'}>")


# ---------------------------------------------------------------- measuring sagas


def run_one(shop: Shop, user_id: str, concert_id: str, order_id: str | None = None, timeout: float = 15.0) -> dict:
    """Place one order and wait until its saga has ended; returns the order."""
    order = shop.place(user_id, concert_id, order_id)
    if not shop.wait([order], timeout=timeout):
        raise LabError(f"order {order['order_id']} had not ended after {timeout:g} s: {shop.story(order)}")
    return order


def latencies(shops: Shop | dict[str, Shop], n: int, user_id: str = "u01", concert_id: str = "c1"):
    """Seconds from placing an order to its end, for `n` orders placed one after the other. Given
    {label: shop}, the shops take turns (one saga each, round after round), so that a machine busy
    with something else slows them alike; returns {label: [seconds, ...]} then."""
    args.whole("n", n, 1, MAX_SAGAS)
    several = isinstance(shops, dict)
    turns = shops if several else {"": shops}
    orders: dict[str, list[dict]] = {label: [] for label in turns}
    with progress_bar(n * len(turns), f"{n} sagas one at a time", "saga", show=n * len(turns) >= 50) as bar:
        for _ in range(n):
            for label, shop in turns.items():
                orders[label].append(run_one(shop, user_id, concert_id))
                bar.update(1)
    took = {}
    for label, shop in turns.items():
        timings = shop.timings(orders[label])
        took[label] = [timings[o["order_id"]] for o in orders[label]]
    return took if several else took[""]


def throughput(shop: Shop, n: int, users: Iterable[str] = domain.REGULAR, concert_id: str = "c1",
               timeout: float = 120.0) -> dict[str, float]:
    """Place `n` orders at once and wait for them all: sagas per second, and p50/p99 latency (ms)."""
    args.whole("n", n, 1, MAX_SAGAS)
    users = list(users)
    orders = [shop.place(users[i % len(users)], concert_id) for i in range(n)]
    if not shop.wait(orders, timeout=timeout):
        raise LabError(f"{len(shop.unfinished(orders))} of {n} sagas had not ended after {timeout:g} s")
    rows = domain.snapshot(shop.coordinator, shop.db(shop.coordinator))["orders"]
    ids = [o["order_id"] for o in orders]
    took = sorted(rows[o]["finished_at"] - rows[o]["placed_at"] for o in ids)
    span = max(rows[o]["finished_at"] for o in ids) - min(rows[o]["placed_at"] for o in ids)
    return {"sagas_per_s": n / span, "p50_ms": 1e3 * statistics.median(took),
            "p99_ms": 1e3 * took[min(len(took) - 1, int(0.99 * len(took)))]}
