"""Lesson 11's at-least-once delivery and its cure: a payments consumer SIGKILLed after charging but
before committing its offset charges again when the group resumes; one that stores the event id in the
same SQLite transaction as the charge does not.

Layer: lessons (imports labs.clients.kafka, labs.lessons.eventlog and the runtime's child-process helper).

    from labs.lessons import at_least_once
    reports = at_least_once.crash_side_by_side(lab, "orders", "payments", workdir)
    reports["naive"].duplicate_charges, reports["idempotent"].duplicate_charges     # e.g. 5, 0
    # the lesson's own handlers, written in its cells, run in the consumer processes:
    at_least_once.crash_side_by_side(lab, "orders", "payments", workdir,
                                     handlers={"naive": charge_naively, "idempotent": charge_once})

A handler is `handler(db: sqlite3.Connection, event) -> None`, called for every OrderPlaced event; the
database has the tables `charges(event_id, user_id, amount)` and `processed(event_id PRIMARY KEY)`.
Each consumer is `python -m labs.lessons.at_least_once charger '<json config>'`, a child of the kernel
(labs.runtime.child.Child), so the crash is a real SIGKILL and nothing outlives the kernel. A handler
travels to it as its source text (the function must be self-contained: sqlite3 is there).
"""
from __future__ import annotations

import inspect
import json
import os
import sqlite3
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..clients import kafka as lk
from ..runtime import Lab, args
from ..runtime.child import Child, say
from ..runtime.progress import bar as progress_bar
from .eventlog import OrderEvent, caught_up, event_of, replay


class ChargeLedger:
    """The effect of handling an OrderPlaced event: a charge row in a SQLite database that
    outlives the consumer (a crash does not undo it, as a real payment would not be undone)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS charges (event_id TEXT, user_id TEXT, amount INTEGER)")
            db.execute("CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def connect(self) -> sqlite3.Connection:
        """A connection for a handler (each consumer process opens its own)."""
        return self._connect()

    def charges(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM charges").fetchone()[0]

    def duplicate_charges(self) -> int:
        """Charges beyond the first for the same event: money taken twice."""
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) - COUNT(DISTINCT event_id) FROM charges").fetchone()[0]

    def total(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COALESCE(SUM(amount), 0) FROM charges").fetchone()[0]


def charge_naively(db: sqlite3.Connection, event) -> None:
    """Charge for every OrderPlaced handled, even one handled before."""
    with db:
        db.execute("INSERT INTO charges VALUES (?, ?, ?)", (event.event_id, event.user_id, event.amount))


def charge_once(db: sqlite3.Connection, event) -> None:
    """Remember the event id in the same transaction as the charge; an id seen before changes nothing."""
    with db:  # one transaction: the id and the charge are stored together, or neither is
        if db.execute("INSERT OR IGNORE INTO processed VALUES (?)", (event.event_id,)).rowcount:
            db.execute("INSERT INTO charges VALUES (?, ?, ?)", (event.event_id, event.user_id, event.amount))


HANDLERS = {"naive": charge_naively, "idempotent": charge_once}


def handler_source(handler: Callable) -> dict[str, str]:
    """What a consumer process needs to run `handler`: its name and its source text."""
    if not callable(handler) or getattr(handler, "__name__", "<lambda>") == "<lambda>":
        raise ValueError("a handler is a named function handler(db, event), e.g. def charge_once(db, event): ...")
    try:
        source = textwrap.dedent(inspect.getsource(handler))
    except (OSError, TypeError) as exc:
        raise ValueError(f"cannot read the source of {handler.__name__}: define it with def in a cell or "
                         "a module") from exc
    return {"name": handler.__name__, "source": source}


def _load_handler(spec: dict[str, str]) -> Callable:
    namespace: dict[str, Any] = {"sqlite3": sqlite3, "__name__": "lesson_handler"}
    exec(compile(spec["source"], f"<handler {spec['name']}>", "exec"), namespace)
    return namespace[spec["name"]]


def _charger_main(config: dict) -> None:
    """A payments consumer: handle, then commit every `commit_every` records. With `crash_after`,
    it stops after handling that many records, *before* committing them, and waits to be killed."""
    name = config["name"]
    db = ChargeLedger(config["db"]).connect()
    charge = _load_handler(config["handler"])

    consumer = lk.consumer(config["bootstrap"], config["topic"], group_id=config["group"], client_id=name,
                           value_deserializer=lk.TEXT, enable_auto_commit=False, **config["settings"])
    lk.wait_for_assignment(consumer)
    say("assigned", member=name)
    handled = committed = 0
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < config["idle_s"] and not (handled and caught_up(consumer)):
        for record in [r for rs in consumer.poll(timeout_ms=100, max_records=1).values() for r in rs]:
            quiet_since = time.monotonic()
            event = event_of(record)
            if event.type == "OrderPlaced":
                charge(db, event)
            handled += 1
            if handled == config.get("crash_after"):
                say("crash-point", member=name, handled=handled, committed=committed)
                time.sleep(3600)  # the parent SIGKILLs us here, after the effect, before the commit
            if handled % config["commit_every"] == 0:
                consumer.commit()
                committed = handled
    consumer.commit()
    say("done", member=name, handled=handled, committed=handled)
    consumer.close(autocommit=False)


def _charger(config: dict) -> Child:
    return Child(__name__, "charger", json.dumps(config), name=config["name"],
                 env={"PYTHONWARNINGS": "ignore"})  # kafka-python's deprecation notes


@dataclass
class CrashReport:
    """What a crash between handling and committing cost, measured in the ledger."""
    idempotent: bool
    events: int             # OrderPlaced events on the topic
    handled_before_crash: int
    committed_before_crash: int
    handled_after_restart: int
    charges: int            # rows in the ledger
    duplicate_charges: int  # charges beyond the first per event
    redelivered: int        # events handled twice (before the crash and again after it)


def crash_before_commit(lab: Lab | dict | str, topic: str, group: str, db: str | os.PathLike,
                        idempotent: bool, crash_after: int = 15, commit_every: int = 10,
                        idle_s: float = 3.0, handler: Callable | None = None) -> CrashReport:
    """Run a payments consumer that is SIGKILLed after handling `crash_after` events but before
    committing them, then a second one in the same group that resumes from the committed offset.
    Both charge with `handler` (default: this module's charge_once, or charge_naively when not
    `idempotent`)."""
    args.whole("crash_after", crash_after, 1, 100_000)
    args.whole("commit_every", commit_every, 1, 100_000)
    if crash_after % commit_every == 0:
        raise ValueError(f"crash_after ({crash_after}) must not be a multiple of commit_every ({commit_every}): "
                         f"the crash must fall between two commits")
    args.seconds("idle_s", idle_s, 0.2, 30)
    ledger = ChargeLedger(db)
    base = {"bootstrap": lk.bootstrap(lab), "topic": topic, "group": group, "db": str(db),
            "handler": handler_source(handler or HANDLERS["idempotent" if idempotent else "naive"]),
            "commit_every": commit_every, "idle_s": idle_s,
            "settings": lk.consumer_settings(lab)}
    first = _charger({**base, "name": "payments-1", "crash_after": crash_after})
    try:
        crash = first.wait_for("crash-point")
    finally:
        first.kill()
    second = _charger({**base, "name": "payments-2"})
    try:
        done = second.wait_for("done", timeout=60)
    finally:
        if second.alive:
            second.kill()
    on_topic = replay(lab, topic)
    return CrashReport(bool(idempotent), sum(e.type == "OrderPlaced" for e in on_topic), crash["handled"],
                       crash["committed"], done["handled"], ledger.charges(), ledger.duplicate_charges(),
                       redelivered=crash["handled"] + done["handled"] - len(on_topic))


def crash_side_by_side(lab: Lab | dict | str, topic: str, group_prefix: str, workdir: str | os.PathLike,
                       handlers: dict[str, Callable] | None = None, **options: Any) -> dict[str, CrashReport]:
    """`crash_before_commit` for a naive and an idempotent consumer at the same time (two groups,
    two ledgers), so the lesson waits for one crash-and-restart instead of two. `handlers` maps
    "naive" and "idempotent" to the functions to charge with (default: this module's)."""
    handlers = {**HANDLERS, **(handlers or {})}
    if set(handlers) != set(HANDLERS):
        raise ValueError(f"handlers are keyed {' and '.join(HANDLERS)}; got {', '.join(handlers)}")
    from concurrent.futures import ThreadPoolExecutor

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with progress_bar(2, "crash, then restart: naive and idempotent consumers", "run") as bar, \
            ThreadPoolExecutor(2) as pool:
        runs = {kind: pool.submit(crash_before_commit, lab, topic, f"{group_prefix}-{kind}",
                                  workdir / f"{kind}.sqlite", kind == "idempotent", handler=handlers[kind],
                                  **options)
                for kind in ("naive", "idempotent")}
        for run in runs.values():
            run.add_done_callback(lambda _: bar.update(1))
        return {kind: run.result() for kind, run in runs.items()}


if __name__ == "__main__":  # python -m labs.lessons.at_least_once charger '<json config>'
    if sys.argv[1:2] != ["charger"] or len(sys.argv) != 3:
        sys.exit("usage: python -m labs.lessons.at_least_once charger '<json config>'")
    _charger_main(json.loads(sys.argv[2]))
