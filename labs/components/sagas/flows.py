"""Who reacts to what: the order saga as choreography (a table of events) and as orchestration (a list of
steps run by a state machine). Each reaction is a function (db, message) -> messages to publish.

Layer: components (standard library only; the actions are in domain.py).

    CHOREOGRAPHY["payments"]          # {"seat.reserved": ("charge", "payment.charged", "payment.declined")}
    bindings("choreography")          # {service: [routing keys its queue is bound to]}
    saga = [Step("reserve a seat", "concerts", "reserve", compensation="release"), ...]
    react = reaction("orchestrator", "orchestration", saga=saga)
    react(db, {"msg_id": "o-1:place", "type": "order.place", "order": {...}})  # -> [Outgoing(cmd.concerts.reserve)]

Choreography: each participant listens for the event before its turn and publishes the outcome; the
orders service only records how the story ended. Nobody holds the saga: its state is spread over four
databases and whatever is still in the queues.

Orchestration: the orchestrator keeps one row per saga (step, state, what it waits for, history) and
sends one command at a time. A failed step turns the saga around: the compensations of the steps
already done are sent one by one, in reverse order; then the order is REJECTED. Message ids are
deterministic (order, step, action), so a command sent again after a crash is recognisably the same.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from typing import Callable

from .domain import ACTIONS, PARTICIPANTS
from .store import Outgoing

STYLES = ("choreography", "orchestration")
PENDING, CONFIRMED, REJECTED = "PENDING", "CONFIRMED", "REJECTED"
RUNNING, COMPENSATING = "RUNNING", "COMPENSATING"
FINAL = (CONFIRMED, REJECTED)

# participant -> {event it reacts to: (action, event when the action succeeds, event when it fails)}
CHOREOGRAPHY: dict[str, dict[str, tuple[str, str, str]]] = {
    "concerts": {"order.placed": ("reserve", "seat.reserved", "seat.unavailable"),
                 "payment.declined": ("release", "seat.released", "seat.released")},
    "payments": {"seat.reserved": ("charge", "payment.charged", "payment.declined")},
    "notifications": {"payment.charged": ("deliver", "ticket.delivered", "ticket.undeliverable")},
}
# the orders service: the request that starts a saga, and the events that end one
ORDERS_ENDINGS = {"seat.unavailable": REJECTED, "seat.released": REJECTED, "ticket.delivered": CONFIRMED}


@dataclass(frozen=True)
class Step:
    """One step of an orchestrated saga: `participant` does `action`; `compensation` undoes it."""
    name: str
    participant: str
    action: str
    compensation: str | None = None

    def __post_init__(self) -> None:
        if self.participant not in PARTICIPANTS:
            raise ValueError(f"participant must be one of {', '.join(PARTICIPANTS)}; got {self.participant!r}")
        actions = ACTIONS[self.participant]
        for what, value in (("action", self.action), ("compensation", self.compensation)):
            if (value is not None or what == "action") and value not in actions:
                raise ValueError(f"{self.participant} can do {', '.join(actions)}; got {what}={value!r} "
                                 f"in step {self.name!r}")


ORDER_SAGA = (
    Step("reserve a seat", "concerts", "reserve", compensation="release"),
    Step("charge", "payments", "charge"),  # the pivot: once the money is taken the saga goes forward
    Step("deliver the ticket", "notifications", "deliver"),
)


def steps_of(saga: object) -> tuple[Step, ...]:
    """A saga definition as Steps, from Steps or their dicts (as the orchestrator's config carries them)."""
    if not isinstance(saga, (list, tuple)) or not saga:
        raise ValueError(f"a saga is a non-empty list of Step(...), got {saga!r}")
    steps = []
    for step in saga:
        if isinstance(step, dict):
            step = Step(**step)
        if not isinstance(step, Step):
            raise ValueError(f"each step of a saga is a Step(name, participant, action, compensation), got {step!r}")
        steps.append(step)
    return tuple(steps)


def saga_config(saga: object) -> list[dict]:
    return [asdict(step) for step in steps_of(saga)]


def bindings(style: str) -> dict[str, list[str]]:
    """{service: the routing keys its queue is bound to} for a style."""
    if style == "choreography":
        return {"orders": ["order.place", *ORDERS_ENDINGS],
                **{service: list(events) for service, events in CHOREOGRAPHY.items()}}
    if style == "orchestration":
        return {"orchestrator": ["order.place", "reply.#"],
                **{service: [f"cmd.{service}.*"] for service in PARTICIPANTS}}
    raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")


def coordinator(style: str) -> str:
    """The service that takes the order and knows how it ended: orders, or the orchestrator."""
    return "orders" if style == "choreography" else "orchestrator"


def event(name: str, order: dict) -> Outgoing:
    return Outgoing(name, {"msg_id": f"{order['order_id']}:{name}", "type": name, "order": order})


def action_of(service: str, style: str, message: dict) -> str:
    """What handling `message` means to `service`: an action name (reserve, charge, ...) for a
    participant, the message type for orders and the orchestrator. Faults are scheduled by it."""
    if service in PARTICIPANTS:
        if style == "choreography":
            return CHOREOGRAPHY[service][message["type"]][0]
        return message["action"]
    return message["type"] if message["type"] != "reply" else f"reply:{message['action']}"


# ---------------------------------------------------------------- participants


def participant(service: str, style: str) -> Callable[[sqlite3.Connection, dict], list[Outgoing]]:
    actions = ACTIONS[service]
    if style == "choreography":
        def react(db: sqlite3.Connection, message: dict) -> list[Outgoing]:
            action, success, failure = CHOREOGRAPHY[service][message["type"]]
            done = actions[action](db, message["order"])
            return [event(success if done else failure, message["order"])]
    else:
        def react(db: sqlite3.Connection, message: dict) -> list[Outgoing]:
            action = message["action"]
            if action not in actions:
                raise ValueError(f"{service} cannot {action!r}; it can {', '.join(actions)}")
            done = actions[action](db, message["order"])
            reply = {"msg_id": f"{message['msg_id']}:reply", "type": "reply", "service": service,
                     "action": action, "step": message["step"], "ok": bool(done),
                     "order_id": message["order"]["order_id"]}
            return [Outgoing(f"reply.{service}.{action}", reply)]
    return react


# ---------------------------------------------------------------- choreography: the orders service


def orders(db: sqlite3.Connection, message: dict) -> list[Outgoing]:
    order = message["order"]
    if message["type"] == "order.place":
        created = db.execute("INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                             (order["order_id"], order["user_id"], order["concert_id"], order["amount"],
                              PENDING, order["placed_at"], "order.place")).rowcount
        return [event("order.placed", order)] if created else []
    db.execute("UPDATE orders SET status = ?, finished_at = ?, last_event = ? WHERE order_id = ? AND status = ?",
               (ORDERS_ENDINGS[message["type"]], time.time(), message["type"], order["order_id"], PENDING))
    return []


# ---------------------------------------------------------------- orchestration: the orchestrator


class Orchestrator:
    """The saga's state machine; every transition is one transaction of the orchestrator's store."""

    def __init__(self, saga: object) -> None:
        self.steps = steps_of(saga)
        self.stale = 0  # replies that did not match what a saga waited for (ignored)

    def command(self, order: dict, step: int, action: str) -> Outgoing:
        participant = self.steps[step].participant
        body = {"msg_id": f"{order['order_id']}:{step}:{action}", "type": "command", "action": action,
                "step": step, "order": order}
        return Outgoing(f"cmd.{participant}.{action}", body)

    def _save(self, db: sqlite3.Connection, order: dict, state: str, step: int, waiting: str | None,
              note: str) -> None:
        row = db.execute("SELECT history FROM sagas WHERE order_id = ?", (order["order_id"],)).fetchone()
        history = json.loads(row[0]) if row else []
        history.append([round(time.time(), 4), note])
        finished = time.time() if state in FINAL else None
        db.execute("INSERT OR REPLACE INTO sagas VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (order["order_id"], json.dumps(order), state, step, waiting, time.time(), json.dumps(history),
                    order["placed_at"], finished))

    def _send(self, db: sqlite3.Connection, order: dict, state: str, step: int, action: str,
              note: str) -> list[Outgoing]:
        target = self.steps[step].participant
        self._save(db, order, state, step, f"{step}:{action}", f"{note}; sent {action} to {target}")
        return [self.command(order, step, action)]

    def _compensate_below(self, db: sqlite3.Connection, order: dict, step: int, note: str) -> list[Outgoing]:
        """Undo the steps before `step`, the last one done first; REJECTED when nothing is left."""
        for back in range(step - 1, -1, -1):
            if self.steps[back].compensation:
                return self._send(db, order, COMPENSATING, back, self.steps[back].compensation, note)
        self._save(db, order, REJECTED, step, None, f"{note}; order rejected")
        return []

    def react(self, db: sqlite3.Connection, message: dict) -> list[Outgoing]:
        if message["type"] == "order.place":
            order = message["order"]
            if db.execute("SELECT 1 FROM sagas WHERE order_id = ?", (order["order_id"],)).fetchone():
                return []
            return self._send(db, order, RUNNING, 0, self.steps[0].action, "order placed")
        row = db.execute("SELECT body, state, waiting_for FROM sagas WHERE order_id = ?",
                         (message["order_id"],)).fetchone()
        if row is None or row[2] != f"{message['step']}:{message['action']}":
            self.stale += 1  # a late or repeated reply: the saga has moved on
            return []
        order, state, step = json.loads(row[0]), row[1], message["step"]
        heard = f"{message['service']}: {message['action']} {'ok' if message['ok'] else 'failed'}"
        if state == COMPENSATING:
            return self._compensate_below(db, order, step, heard)
        if not message["ok"]:
            return self._compensate_below(db, order, step, heard)
        if step + 1 < len(self.steps):
            return self._send(db, order, RUNNING, step + 1, self.steps[step + 1].action, heard)
        self._save(db, order, CONFIRMED, step, None, f"{heard}; order confirmed")
        return []

    def resume(self, db: sqlite3.Connection) -> list[Outgoing]:
        """After a restart: send again the command every unfinished saga waits for. A command that
        had arrived is recognised by its id (the participants' inbox); one that was lost is not."""
        out = []
        for body, waiting in db.execute("SELECT body, waiting_for FROM sagas WHERE state IN (?, ?) ORDER BY since",
                                        (RUNNING, COMPENSATING)).fetchall():
            step, action = waiting.split(":", 1)
            out.append(self.command(json.loads(body), int(step), action))
        return out


def reaction(service: str, style: str, saga: object = ORDER_SAGA) -> Callable[[sqlite3.Connection, dict], list]:
    """The function a service runs for each message it consumes."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}; got {style!r}")
    if service in PARTICIPANTS:
        return participant(service, style)
    if service == coordinator(style):
        return orders if style == "choreography" else Orchestrator(saga).react
    raise ValueError(f"in {style} the services are {', '.join([coordinator(style), *PARTICIPANTS])}; "
                     f"got {service!r}")
