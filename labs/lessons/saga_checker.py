"""A consistency checker for the order saga, in the spirit of Maelstrom/Jepsen: run many sagas under a
seeded schedule of faults, then read every service's final state and list what breaks the rules.

Layer: lessons (labs.lessons.sagas for the running services, labs.clients.chaos for the latency).

    from labs.lessons import saga_checker
    schedule = saga_checker.make_schedule(seed=7, sagas=200)   # the same seed, the same schedule
    report = saga_checker.run(lab, "orchestration", schedule)   # outbox and dedupe on: 0 violations
    report.violations, report.counts(), report.table()
    saga_checker.run(lab, "choreography", schedule, outbox=False, dedupe=False).counts()
    reports = saga_checker.run_many(lab, schedule, [("choreography", True, True), ...])  # side by side
    saga_checker.plot(reports)

The schedule decides, from the seed alone: who orders what (some customers cannot pay, so their
charge is declined; a small concert sells out; with bounces=True some tickets cannot be delivered),
which participant is SIGKILLed at which message (right after its commit, before anything else: the
worst moment), which messages are given back to the broker after being handled (a lost ack: they are
delivered again), which outgoing messages are published twice, and which participant's link to
RabbitMQ gets extra latency while which orders are placed (the chaos proxy).

The rules (every order, then the totals):
    never finished           the order is neither CONFIRMED nor REJECTED once everything is quiet
    seat without payment     a seat is held for it and nothing was charged
    payment without seat     money was taken and no seat is held
    charged twice            more than one charge stands for one order
    seat held twice          more than one seat is held for one order
    confirmed without ticket the order is CONFIRMED and no ticket went out
    rejected but kept        the order is REJECTED and a seat or a charge still stands
    money not conserved      what customers paid differs from what the confirmed orders cost
    seats not conserved      seats gone from a concert differ from its confirmed orders
"""
from __future__ import annotations

import random
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..components.sagas import domain, flows
from ..runtime import Lab, args
from ..runtime.progress import bar as progress_bar
from .sagas import MAX_SAGAS, Shop

KINDS = ("never finished", "seat without payment", "payment without seat", "charged twice", "seat held twice",
         "confirmed without ticket", "rejected but kept", "money not conserved", "seats not conserved")
PACE_S = 0.006      # one order placed every 6 ms: 200 orders in ~1.2 s, many sagas in flight at once
QUIET_S = 3.0       # once nothing has ended for this long (and no service is restarting), it is over
ACTION_OF = {"concerts": "reserve", "payments": "charge", "notifications": "deliver"}


@dataclass(frozen=True)
class Schedule:
    """What will happen in a run, all of it decided by the seed."""
    seed: int
    orders: tuple[tuple[str, str, str], ...]        # (order_id, user_id, concert_id), in placing order
    crash: tuple[tuple[str, str, str], ...]         # (service, order_id, action): SIGKILL after the commit
    lost_ack: tuple[tuple[str, str, str], ...]      # handled, then given back: delivered again
    resend: tuple[tuple[str, str, str], ...]        # what handling it causes is published twice
    latency: tuple[str, int, int, int] | None       # (service, first order, last order, ms) on its link

    def faults(self) -> dict[str, dict[str, list[list[str]]]]:
        """{service: {"crash"|"lost_ack"|"resend": [[order_id, action], ...]}} for Shop(faults=...)."""
        out: dict[str, dict[str, list[list[str]]]] = {}
        for kind in ("crash", "lost_ack", "resend"):
            for service, order_id, action in getattr(self, kind):
                out.setdefault(service, {}).setdefault(kind, []).append([order_id, action])
        return out

    def table(self):
        """The faults, one row each, as a pandas DataFrame."""
        import pandas as pd
        what = {"crash": "SIGKILL after its commit, then restarted", "lost_ack": "handled, ack lost: delivered again",
                "resend": "its outgoing messages published twice"}
        rows = [{"fault": kind, "service": s, "at": f"{o} ({a})", "what happens": what[kind]}
                for kind in ("crash", "lost_ack", "resend") for s, o, a in getattr(self, kind)]
        if self.latency:
            s, first, last, ms = self.latency
            rows.append({"fault": "latency", "service": s, "at": f"orders {first}-{last}",
                         "what happens": f"+{ms} ms on its link to RabbitMQ (chaos proxy)"})
        kinds = Counter(self.kinds().values())
        rows.append({"fault": "orders", "service": "", "at": f"{len(self.orders)} orders",
                     "what happens": ", ".join(f"{n} {k}" for k, n in kinds.items())})
        return pd.DataFrame(rows)

    def kinds(self) -> dict[str, str]:
        """{order_id: "regular" / "cannot pay" / "small concert" / "address bounces"}."""
        def kind(user: str, concert: str) -> str:
            if user in domain.BROKE:
                return "cannot pay"
            if user in domain.BOUNCING:
                return "address bounces"
            return "small concert" if concert != "c1" else "regular"
        return {o: kind(u, c) for o, u, c in self.orders}


def make_schedule(seed: int = 7, sagas: int = 200, *, bounces: bool = False, crashes: int = 3,
                  lost_acks: int = 8, resends: int = 8, latency_ms: int = 10) -> Schedule:
    """A fault schedule from `seed` alone: the same seed gives the same schedule, run after run."""
    args.whole("seed", seed, 0, 2**31)
    args.whole("sagas", sagas, 10, MAX_SAGAS)
    args.whole("crashes", crashes, 0, 3)
    args.whole("lost_acks", lost_acks, 0, sagas)
    args.whole("resends", resends, 0, sagas)
    args.whole("latency_ms", latency_ms, 0, 1000)
    rng = random.Random(seed)
    orders = []
    for n in range(sagas):
        draw = rng.random()
        if draw < 0.12:
            user, concert = rng.choice(domain.BROKE), "c1"
        elif draw < 0.20:
            user, concert = rng.choice(domain.REGULAR), "c2"
        elif bounces and draw < 0.30:
            user, concert = rng.choice(domain.BOUNCING), "c1"
        else:
            user, concert = rng.choice(domain.REGULAR), "c1"
        orders.append((f"o{n:04}", user, concert))
    # Faults hit orders whose saga surely goes through reserve, charge and deliver (regular ones),
    # none in the first tenth (let the run get going) and no order twice.
    # A short run has fewer such orders than faults asked for: the later kinds then get fewer.
    regular = [o for o, u, c in orders[sagas // 10:] if u in domain.REGULAR and c == "c1"]
    picked = rng.sample(regular, min(len(regular), crashes + lost_acks + resends))

    def some(services: list[str]) -> tuple:
        chosen = [(service, picked.pop(), ACTION_OF[service]) for service in services[:len(picked)]]
        return tuple(chosen)

    crash = some(rng.sample(domain.PARTICIPANTS, crashes))
    lost = some([rng.choice(domain.PARTICIPANTS) for _ in range(lost_acks)])
    twice = some([rng.choice(domain.PARTICIPANTS) for _ in range(resends)])
    first = rng.randrange(sagas // 4, sagas // 2)
    slow = (rng.choice(domain.PARTICIPANTS), first, first + sagas // 4, latency_ms) if latency_ms else None
    return Schedule(seed, tuple(orders), crash, lost, twice, slow)


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Violation:
    kind: str
    order_id: str | None
    detail: str


def violations(state: dict[str, dict], coordinator: str, orders: Iterable[tuple[str, str, str]]) -> list[Violation]:
    """Every broken rule in the services' final state (`Shop.snapshot()`), for the orders placed
    ((order_id, user_id, concert_id) each)."""
    status = {o: row["status"] for o, row in state[coordinator]["orders"].items()}
    holds, charges = Counter(), Counter()
    for h in state["concerts"]["holds"]:
        holds[h["order_id"]] += h["status"] == "held"
    for c in state["payments"]["charges"]:
        charges[c["order_id"]] += c["status"] == "charged"
    tickets = Counter(state["notifications"]["tickets"])
    found = []
    concert_of = {o: c for o, _, c in orders}
    for o in concert_of:
        st, held, paid = status.get(o), holds[o], charges[o]
        rules = [("never finished", st not in flows.FINAL, f"still {st or 'unknown'}"),
                 ("seat without payment", held and not paid, f"{held} seat held, nothing charged ({st})"),
                 ("payment without seat", paid and not held, f"charged {paid}x, no seat held ({st})"),
                 ("charged twice", paid > 1, f"{paid} charges stand"),
                 ("seat held twice", held > 1, f"{held} seats held"),
                 ("confirmed without ticket", st == flows.CONFIRMED and not tickets[o], "no ticket sent"),
                 ("rejected but kept", st == flows.REJECTED and (held or paid), f"{held} seat, {paid} charge")]
        found += [Violation(kind, o, detail) for kind, broken, detail in rules if broken]
    confirmed = [o for o in concert_of if status.get(o) == flows.CONFIRMED]
    amount = {c: price for c, (_, price) in domain.CONCERTS.items()}
    paid_total = sum(b for b, _ in domain.USERS.values()) - sum(state["payments"]["balances"].values())
    worth = sum(amount[concert_of[o]] for o in confirmed)
    if paid_total != worth:
        found.append(Violation("money not conserved", None,
                               f"customers paid {paid_total}, the {len(confirmed)} confirmed orders cost {worth}"))
    for concert, (seats, _) in domain.CONCERTS.items():
        gone = seats - state["concerts"]["seats_left"][concert]
        sold = sum(concert_of[o] == concert for o in confirmed)
        if gone != sold:
            found.append(Violation("seats not conserved", None,
                                   f"{concert}: {gone} seats gone, {sold} confirmed orders"))
    return found


# ---------------------------------------------------------------- a run


@dataclass
class Report:
    """One checker run: the outcome of every order and the rules broken."""
    style: str
    seed: int
    outbox: bool
    dedupe: bool
    sagas: int
    outcomes: Counter = field(default_factory=Counter)
    statuses: dict[str, str] = field(default_factory=dict)   # order_id -> how it ended (or "unfinished")
    violations: list[Violation] = field(default_factory=list)
    crashes: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def protections(self) -> str:
        on = [name for name, flag in (("outbox", self.outbox), ("dedupe", self.dedupe)) if flag]
        return " + ".join(on) if on else "none"

    def counts(self) -> dict[str, int]:
        """{kind: how many}, for the kinds that occurred."""
        return dict(Counter(v.kind for v in self.violations))

    def table(self, limit: int = 12):
        """The first violations, one row each."""
        import pandas as pd
        return pd.DataFrame([vars(v) for v in self.violations[:limit]], columns=["kind", "order_id", "detail"])

    def __repr__(self) -> str:
        return (f"<checker {self.style}, seed {self.seed}, protections {self.protections}: {self.sagas} sagas "
                f"({dict(self.outcomes)}), {len(self.violations)} violations, {len(self.crashes)} crashes, "
                f"{self.seconds:.1f} s>")


def run(lab: Lab, style: str, schedule: Schedule | None = None, *, outbox: bool = True, dedupe: bool = True,
        saga: Iterable = flows.ORDER_SAGA, quiet: float = QUIET_S, progress: bool = True) -> Report:
    """Run the schedule's orders through a fresh shop of `style` with its faults, then check the rules."""
    schedule = schedule or make_schedule()
    started = time.perf_counter()
    proxy = links = None
    tag = f"{style[:6]}-{int(bool(outbox))}{int(bool(dedupe))}"  # runs side by side need their own names
    if schedule.latency:
        from ..clients import chaos
        proxy = chaos.proxy(lab, "rabbitmq", port_key="amqp", name=f"saga-{tag}-{schedule.latency[0]}",
                            seed=schedule.seed)
        links = {schedule.latency[0]: proxy.url_for()}
    report = Report(style, schedule.seed, bool(outbox), bool(dedupe), len(schedule.orders))
    with Shop(lab, style, outbox=outbox, dedupe=dedupe, saga=saga, faults=schedule.faults(), links=links,
              label=f"checker-{tag}", progress=False) as shop, \
            progress_bar(len(schedule.orders), f"checker: {style}, protections {report.protections}", "saga ended",
                         show=progress) as bar:
        _place(shop, schedule, proxy)
        shown = [0]  # sagas ended so far (a disabled bar does not count)

        def ended(n: int) -> None:
            bar.update(n - shown[0])
            shown[0] = n

        shop.wait([o for o, _, _ in schedule.orders], timeout=120, quiet=quiet, ended=ended)
        # A saga ends before the copies of its messages (resends, redeliveries) and a follower's
        # crash and restart are done: read the state once nothing is on its way (<= 15 s more).
        shop.settle()
        state = shop.snapshot()
        report.crashes = list(shop.crashes)
    status = {o: row["status"] for o, row in state[shop.coordinator]["orders"].items()}
    report.statuses = {o: status.get(o) if status.get(o) in flows.FINAL else "unfinished"
                       for o, _, _ in schedule.orders}
    report.outcomes = Counter(report.statuses.values())
    report.violations = violations(state, shop.coordinator, schedule.orders)
    report.seconds = time.perf_counter() - started
    return report


def _place(shop: Shop, schedule: Schedule, proxy: Any) -> None:
    """Place the orders at a steady pace, switching the latency on and off at its orders."""
    slow = schedule.latency
    next_at = time.perf_counter()
    try:
        for n, (order_id, user, concert) in enumerate(schedule.orders):
            if slow and n == slow[1]:
                proxy.add("latency", latency=slow[3], name="saga-latency")
            if slow and n == slow[2]:
                proxy.remove("saga-latency")
            shop.place(user, concert, order_id)
            next_at += PACE_S
            time.sleep(max(0.0, next_at - time.perf_counter()))
    finally:
        if proxy is not None:
            proxy.clear()


def run_many(lab: Lab, schedule: Schedule, runs: Iterable[tuple[str, bool, bool]], *, parallel: bool = True,
             progress: bool = True) -> dict[tuple[str, bool, bool], Report]:
    """`run` for each (style, outbox, dedupe), all on the same schedule; side by side in threads (each
    run has its own exchange, processes and proxy), so the lesson waits for the slowest, not the sum."""
    from concurrent.futures import ThreadPoolExecutor

    runs = [(args.choice("style", style, flows.STYLES), bool(outbox), bool(dedupe)) for style, outbox, dedupe in runs]
    with progress_bar(len(runs), f"checker: {len(runs)} runs of {len(schedule.orders)} sagas", "run",
                      show=progress) as bar, ThreadPoolExecutor(len(runs) if parallel else 1) as pool:
        futures = {key: pool.submit(run, lab, key[0], schedule, outbox=key[1], dedupe=key[2], progress=False)
                   for key in runs}
        for future in futures.values():
            future.add_done_callback(lambda _: bar.update(1))
        return {key: future.result() for key, future in futures.items()}


def plot(reports: Iterable[Report], title: str = "what the checker found, same seed"):
    """One row per run, one column per rule: how many times it was broken (0 in grey)."""
    import matplotlib.pyplot as plt
    import numpy as np

    reports = list(reports)
    counts = np.array([[r.counts().get(kind, 0) for kind in KINDS] for r in reports])
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * len(reports)))
    ax.imshow(np.where(counts > 0, counts, np.nan), cmap="Reds", vmin=0, vmax=max(1, counts.max()), aspect="auto")
    for (row, col), n in np.ndenumerate(counts):
        shade = "0.6" if not n else "white" if n > counts.max() / 2 else "black"
        ax.text(col, row, str(n), ha="center", va="center", color=shade, fontsize=10)
    ax.set_xticks(range(len(KINDS)), [textwrap.fill(k, 10) for k in KINDS], fontsize=8)
    ax.set_yticks(range(len(reports)), [f"{r.style}, {r.protections}" for r in reports], fontsize=9)
    ax.set_xticks(np.arange(len(KINDS) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(reports) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="both", length=0)
    ax.xaxis.tick_top()
    ax.set_title(title, pad=30)
    fig.tight_layout()
    return fig
