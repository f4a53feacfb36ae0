"""Lesson 12's crashes: an orchestrator SIGKILLed with sagas in flight and started again on its database.

Layer: lessons (labs.lessons.sagas, labs.lessons.saga_checker's rules, the chaos proxy).

    from labs.lessons import saga_crashes
    recovery = saga_crashes.crash_orchestrator(lab, sagas=40)
    recovery.in_flight, recovery.confirmed_after, recovery.rejected_after, recovery.violations

(The dual write and the outbox are shown cell by cell in the notebook, with `Shop(faults=..., auto_restart=False)`.)

The orchestrator keeps each saga's step in SQLite and publishes through its outbox; started again it
sends once more the command each unfinished saga waits for. Payments is slowed down through the chaos
proxy (latency on its link to RabbitMQ), so that many sagas are under way when the crash comes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..clients import chaos
from ..components.sagas import domain, flows
from ..runtime import Lab, LabError, args
from ..runtime.waiting import poll_until
from .saga_checker import Violation, violations
from .sagas import MAX_SAGAS, Shop

SLOW_PAYMENTS_MS = 15


@dataclass
class Recovery:
    """What an orchestrator crash did to the sagas it was running."""
    sagas: int
    ended_before: int             # sagas that had ended when the orchestrator was killed
    in_flight: int                # started and not ended at the kill (RUNNING or COMPENSATING)
    not_started: int              # order.place still waiting in the orchestrator's queue
    resent: int                   # commands the restarted orchestrator sent again
    confirmed_after: int          # of the sagas in flight: CONFIRMED after the restart
    rejected_after: int           # ... and REJECTED (compensated)
    restart_s: float              # from starting it again to its "ready" (database open, commands resent)
    first_end_s: float            # from starting it again to the first saga that ended after
    all_ended_s: float            # from starting it again to the last saga's end
    violations: list[Violation] = field(default_factory=list)


def crash_orchestrator(lab: Lab, sagas: int = 40, kill_after: int = 8, slow_ms: int = SLOW_PAYMENTS_MS,
                       timeout: float = 60.0, *, outbox: bool = True, dedupe: bool = True) -> Recovery:
    """Place `sagas` orders (every fifth from a customer who cannot pay), SIGKILL the orchestrator
    once `kill_after` have ended, start it again, wait for every saga, then apply the checker's rules.
    outbox / dedupe switch the protections off (as in Shop)."""
    args.whole("sagas", sagas, 2, MAX_SAGAS)
    args.whole("kill_after", kill_after, 1, sagas - 1)
    args.whole("slow_ms", slow_ms, 0, 1000)
    proxy = chaos.proxy(lab, "rabbitmq", port_key="amqp", name="saga-payments")
    proxy.add("latency", latency=slow_ms, name="slow-payments")
    try:
        with Shop(lab, "orchestration", links={"payments": proxy.url_for()}, label="orchestrator crash",
                  outbox=outbox, dedupe=dedupe, progress=False) as shop:
            orders = [(f"o{n:03}", domain.BROKE[n % 3] if n % 5 == 4 else domain.REGULAR[n % 16], "c1")
                      for n in range(sagas)]
            for order_id, user, concert in orders:
                shop.place(user, concert, order_id)
            if not poll_until(lambda: sagas - len(shop.unfinished(o for o, _, _ in orders)) >= kill_after, timeout):
                raise LabError(f"fewer than {kill_after} sagas ended within {timeout:g} s")
            shop.kill("orchestrator")
            status = shop.statuses()
            ended_before = sum(status.get(o) in flows.FINAL for o, _, _ in orders)
            in_flight = [o for o, _, _ in orders if status.get(o) in (flows.RUNNING, flows.COMPENSATING)]
            restarted = time.time()
            ready = shop.restart("orchestrator")
            restart_s = ready["t"] - restarted
            if not shop.wait([o for o, _, _ in orders], timeout=timeout):
                raise LabError(f"{len(shop.unfinished(o for o, _, _ in orders))} sagas had not ended "
                               f"{timeout:g} s after the restart")
            rows = domain.snapshot("orchestrator", shop.db("orchestrator"))["orders"]
            after = [rows[o]["finished_at"] for o, _, _ in orders if rows[o]["finished_at"] > restarted]
            state = shop.snapshot()
    finally:
        proxy.clear()
    return Recovery(sagas, ended_before, len(in_flight), sagas - ended_before - len(in_flight), ready["resent"],
                    sum(rows[o]["status"] == flows.CONFIRMED for o in in_flight),
                    sum(rows[o]["status"] == flows.REJECTED for o in in_flight),
                    restart_s, min(after) - restarted if after else float("nan"),
                    max(after) - restarted if after else float("nan"),
                    violations(state, "orchestrator", orders))
