"""Lesson 12's crashes: an orchestrator SIGKILLed with sagas in flight and started again on its database.

Layer: lessons (labs.lessons.sagas, labs.lessons.saga_checker's rules, the chaos proxy).

    from labs.lessons import saga_crashes
    recovery = saga_crashes.crash_orchestrator(lab, sagas=40)
    recovery.in_flight, recovery.resent, recovery.skipped, recovery.confirmed_after, recovery.violations

(The dual write and the outbox are shown cell by cell in the notebook, with `Shop(faults=..., auto_restart=False)`.)

The orchestrator keeps each saga's step in SQLite and publishes through its outbox; started again it
sends once more the command each unfinished saga waits for (the participants' inboxes skip the copies
of those that had arrived; without the dedupe each copy is carried out again). Payments is slowed down
through the chaos proxy (latency on its link to RabbitMQ), so that many sagas are under way when the
crash comes. The result is read once every copy has been handled (Shop.settle), not as soon as the
last saga ended.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..clients import chaos
from ..components.sagas import domain, flows
from ..runtime import Lab, LabError, args
from ..runtime.progress import bar as progress_bar
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
    skipped: int                  # copies the participants' inboxes skipped: the resent ones, and any outbox
                                  # row the killed orchestrator had published but not yet marked sent
    confirmed_after: int          # of the sagas in flight: CONFIRMED after the restart
    rejected_after: int           # ... and REJECTED (compensated)
    restart_s: float              # from starting it again to its "ready" (database open, commands resent)
    first_end_s: float            # from starting it again to the first saga that ended after
    all_ended_s: float            # from starting it again to the last saga's end
    violations: list[Violation] = field(default_factory=list)


def crash_orchestrator(lab: Lab, sagas: int = 40, kill_after: int = 8, slow_ms: int = SLOW_PAYMENTS_MS,
                       timeout: float = 60.0, *, outbox: bool = True, dedupe: bool = True,
                       progress: bool = True) -> Recovery:
    """Place `sagas` orders (every fifth from a customer who cannot pay), SIGKILL the orchestrator
    once `kill_after` have ended, start it again, wait for every saga, then apply the checker's rules.
    outbox / dedupe switch the protections off (as in Shop)."""
    args.whole("sagas", sagas, 2, MAX_SAGAS)
    args.whole("kill_after", kill_after, 1, sagas - 1)
    args.whole("slow_ms", slow_ms, 0, 1000)
    orders = [(f"o{n:03}", domain.BROKE[n % 3] if n % 5 == 4 else domain.REGULAR[n % 16], "c1")
              for n in range(sagas)]
    ids = [o for o, _, _ in orders]
    proxy = chaos.proxy(lab, "rabbitmq", port_key="amqp", name="saga-payments")
    proxy.add("latency", latency=slow_ms, name="slow-payments")
    try:
        with Shop(lab, "orchestration", links={"payments": proxy.url_for()}, label="orchestrator crash",
                  outbox=outbox, dedupe=dedupe, progress=False) as shop, \
                progress_bar(sagas, "sagas ended (orchestrator running)", "saga", show=progress) as bar:
            done = [0]  # sagas ended so far (a disabled bar does not count)

            def ended(n: int) -> None:
                bar.update(n - done[0])
                done[0] = n

            for order_id, user, concert in orders:
                shop.place(user, concert, order_id)
            if not poll_until(lambda: ended(sagas - len(shop.unfinished(ids))) or done[0] >= kill_after, timeout):
                raise LabError(f"fewer than {kill_after} sagas ended within {timeout:g} s")
            shop.kill("orchestrator")
            bar.set_description("sagas ended (orchestrator killed, started again)")
            status = shop.statuses()
            in_flight = [o for o in ids if status.get(o) in (flows.RUNNING, flows.COMPENSATING)]
            ended_before = sum(status.get(o) in flows.FINAL for o in ids)
            restarted = time.time()
            ready = shop.restart("orchestrator")
            if not shop.wait(ids, timeout=timeout, ended=ended):
                raise LabError(f"{len(shop.unfinished(ids))} sagas had not ended {timeout:g} s after the restart")
            # A saga ends on the reply to the command it was sent first; the copy the restart resent may
            # still wait in a participant's queue. Its effect (or its skipping) belongs to the result.
            if not shop.settle(timeout=timeout):
                raise LabError(f"messages were still on their way {timeout:g} s after every saga had ended")
            state = shop.snapshot()
            skipped = sum(len(shop.duplicates(s)) for s in domain.PARTICIPANTS)
    finally:
        proxy.clear()
    rows = state["orchestrator"]["orders"]
    after = [rows[o]["finished_at"] - restarted for o in ids if rows[o]["finished_at"] > restarted]
    return Recovery(sagas, ended_before, len(in_flight), sagas - ended_before - len(in_flight), ready["resent"],
                    skipped,
                    sum(rows[o]["status"] == flows.CONFIRMED for o in in_flight),
                    sum(rows[o]["status"] == flows.REJECTED for o in in_flight),
                    restart_s=ready["t"] - restarted, first_end_s=min(after, default=float("nan")),
                    all_ended_s=max(after, default=float("nan")), violations=violations(state, "orchestrator", orders))
