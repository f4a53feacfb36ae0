"""A saga service's own database: its business tables, plus an inbox (message ids already handled)
and an outbox (messages to publish), all in one SQLite file so one transaction covers all three.

Layer: components (standard library only).

    store = Store("/tmp/.../payments.sqlite", outbox=True, dedupe=True)
    store.create(domain.SCHEMAS["payments"], seed_rows)
    out = store.handle(message, react, trace=header)   # one transaction: dedupe + effects + outbox rows
    store.pending()                                     # outbox rows not yet published, oldest first
    store.mark_sent(seq)

`handle` is the whole idea of the transactional outbox: the state change and the messages it causes
are written in the same transaction, so they exist together or not at all. Publishing happens later
(the relay), and may happen twice; the receiving side's inbox (`processed`) turns the second copy
into a no-op. With outbox=False the messages are handed back to be published after the commit (a
dual write); with dedupe=False every delivery is handled, however often it arrives.

WAL mode with synchronous=NORMAL: a committed transaction survives the process being SIGKILLed
(only a power cut could lose the last ones), and readers in other processes (the checker, the
lesson asking "where is order 42?") never block the service.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

INBOX_OUTBOX = """
CREATE TABLE IF NOT EXISTS processed (msg_id TEXT PRIMARY KEY, at REAL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL, routing_key TEXT NOT NULL, body TEXT NOT NULL,
    trace TEXT, sent INTEGER NOT NULL DEFAULT 0, written REAL
);
"""


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants published: where to (a topic routing key) and what."""
    routing_key: str
    body: dict


@dataclass(frozen=True)
class Pending:
    """An outbox row waiting for the relay."""
    seq: int
    msg_id: str
    routing_key: str
    body: dict
    trace: str | None


def connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    """A connection in WAL mode; readonly=True opens the file without being able to change it."""
    if readonly:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    else:
        db = sqlite3.connect(path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    return db


class Store:
    """One service's database file; see the module docstring."""

    def __init__(self, path: str, *, outbox: bool = True, dedupe: bool = True) -> None:
        self.path = str(path)
        self.outbox = bool(outbox)
        self.dedupe = bool(dedupe)
        self.db = connect(self.path)
        self.db.executescript(INBOX_OUTBOX)
        self.duplicates = 0  # deliveries the inbox turned into no-ops

    def create(self, schema: str, seed: Iterable[tuple[str, tuple]] = ()) -> None:
        """Create the business tables and, on a fresh file only, insert the seed rows
        (a restarted service keeps the state it had)."""
        with self.db:
            fresh = not self.db.execute("SELECT name FROM sqlite_master WHERE name='seeded'").fetchone()
            self.db.executescript(schema)
            if fresh:
                self.db.execute("CREATE TABLE seeded (at REAL)")
                self.db.execute("INSERT INTO seeded VALUES (?)", (time.time(),))
                for sql, row in seed:
                    self.db.execute(sql, row)

    def handle(self, message: dict, react: Callable[[sqlite3.Connection, dict], list[Outgoing]],
               trace: str | None = None) -> list[Outgoing] | None:
        """Handle one delivery in one transaction. Returns None for a duplicate (nothing done), else
        the messages it caused: with the outbox they are already in the outbox table, committed with
        the state change; without it the caller must publish them now."""
        with self.db:  # commits at the end of the block, rolls back if react raises
            if self.dedupe:
                seen = self.db.execute("INSERT OR IGNORE INTO processed VALUES (?, ?)",
                                       (message["msg_id"], time.time())).rowcount == 0
                if seen:
                    self.duplicates += 1
                    return None
            out = react(self.db, message)
            if self.outbox:
                self.write_outbox(out, trace)
            return out

    def write_outbox(self, out: Iterable[Outgoing], trace: str | None) -> None:
        """Add messages to the outbox (inside the caller's transaction)."""
        for item in out:
            self.db.execute("INSERT INTO outbox (msg_id, routing_key, body, trace, written) VALUES (?, ?, ?, ?, ?)",
                            (item.body["msg_id"], item.routing_key, json.dumps(item.body), trace, time.time()))

    def pending(self, limit: int = 500) -> list[Pending]:
        rows = self.db.execute("SELECT seq, msg_id, routing_key, body, trace FROM outbox WHERE sent = 0 "
                               "ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [Pending(seq, msg_id, key, json.loads(body), trace) for seq, msg_id, key, body, trace in rows]

    def mark_sent(self, seq: int) -> None:
        with self.db:
            self.db.execute("UPDATE outbox SET sent = 1 WHERE seq = ?", (seq,))

    def close(self) -> None:
        self.db.close()


def rows(path: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Read another service's database without changing it (the checker, "where is order 42?")."""
    db = connect(path, readonly=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def outbox_of(path: str) -> list[dict[str, Any]]:
    """Every outbox row of a service's database, oldest first."""
    return [{"seq": s, "msg_id": m, "routing_key": k, "sent": bool(sent)}
            for s, m, k, sent in rows(path, "SELECT seq, msg_id, routing_key, sent FROM outbox ORDER BY seq")]
