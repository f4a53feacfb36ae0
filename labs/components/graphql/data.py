"""The subgraphs' data layer: a SQLite database in memory per subgraph, every SQL statement counted.

    db = Database("users-graph")              # the users table, seeded
    with db.counting() as log:                # what this request (this context) runs lands in `log`
        db.user("u3"); db.users_by_ids(["u1", "u2"])
    log.queries, log.statements               # 2, ["SELECT ... WHERE id = ?", "SELECT ... IN (?,?)"]
    db.total                                  # every statement since start (or reset_counts)

Each public method runs exactly one SQL statement, so "queries" is what a database would see. SQLite
itself reports them (`set_trace_callback`), not our code, so a resolver cannot hide one. Inside a
traced request (labs.tracing) each statement is also written as a span `<subgraph> -> <subgraph>-db`,
so a recorded run draws the N+1 as N arrows to the database.

Layer: components (runs inside the subgraph processes; standard library + labs.tracing only).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from ... import tracing
from ..ticketing.domain import ID_PATTERN, SEED_CONCERTS, SEED_USERS, check_id

CUSTOMERS = 60  # users u1..u60: the five of the ticketing seed, then generated customers
ORDERS = 60  # orders o1..o60; order oN belongs to user uN, so 50 orders name 50 different users
MAX_FIRST = 100  # the most rows one list field returns
SUBGRAPHS = ("users-graph", "orders-graph")

_FIRST = ("Katherine", "Dennis", "Margaret", "Ken", "Frances", "John", "Radia", "Tim", "Sophie", "Niklaus",
          "Annie", "Donald")
_LAST = ("Johnson", "Ritchie", "Hamilton", "Thompson", "Allen", "Backus", "Perlman", "Berners-Lee", "Wilson",
         "Wirth", "Easley", "Knuth")


def seed_users() -> list[tuple[str, str, str, int]]:
    """(id, name, email, balance): the ticketing seed's five users, then deterministic customers."""
    rows = [(u.id, u.name, u.email, u.balance) for u in SEED_USERS]
    for n in range(len(rows) + 1, CUSTOMERS + 1):
        first, last = _FIRST[n % len(_FIRST)], _LAST[(n * 7) % len(_LAST)]
        rows.append((f"u{n}", f"{first} {last}", f"{first.lower()}.{n}@example.org", 100 + 37 * n % 900))
    return rows


def seed_orders() -> list[tuple[str, str, str, int, str]]:
    """(id, user_id, concert_id, amount, status): order oN by user uN, on c1 or c2 in turn."""
    concerts = SEED_CONCERTS[:2]
    return [(f"o{n}", f"u{n}", concerts[(n - 1) % 2].id, concerts[(n - 1) % 2].price, "confirmed")
            for n in range(1, ORDERS + 1)]


def seed_concerts() -> list[tuple[str, str, int, int, int]]:
    """(id, title, seats_total, seats_left, price), seats_left less the seeded orders on each."""
    taken = {c.id: sum(1 for o in seed_orders() if o[2] == c.id) for c in SEED_CONCERTS}
    return [(c.id, c.title, c.seats_total, c.seats_total - taken[c.id], c.price) for c in SEED_CONCERTS]


_SCHEMA = {
    "users-graph": ("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT, balance INTEGER)",),
    "orders-graph": ("CREATE TABLE concerts (id TEXT PRIMARY KEY, title TEXT, seats_total INTEGER, "
                     "seats_left INTEGER, price INTEGER)",
                     "CREATE TABLE orders (id TEXT PRIMARY KEY, user_id TEXT, concert_id TEXT, amount INTEGER, "
                     "status TEXT)",
                     "CREATE INDEX orders_by_user ON orders (user_id)"),
}


@dataclass
class QueryLog:
    """The statements one request ran."""
    statements: list[str] = field(default_factory=list)

    @property
    def queries(self) -> int:
        return len(self.statements)


_request_log: contextvars.ContextVar[QueryLog | None] = contextvars.ContextVar("graph_query_log", default=None)


class Database:
    """One subgraph's tables in an in-memory SQLite database (seeded), with counted statements."""

    def __init__(self, subgraph: str):
        if subgraph not in SUBGRAPHS:
            raise ValueError(f"subgraph must be one of {', '.join(SUBGRAPHS)}, got {subgraph!r}")
        self.subgraph = subgraph
        self.name = f"{subgraph.removesuffix('-graph')}-db"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        for statement in _SCHEMA[subgraph]:
            self._db.execute(statement)
        if subgraph == "users-graph":
            self._db.executemany("INSERT INTO users VALUES (?, ?, ?, ?)", seed_users())
        else:
            self._db.executemany("INSERT INTO concerts VALUES (?, ?, ?, ?, ?)", seed_concerts())
            self._db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", seed_orders())
        self.total = 0
        # Installed after seeding: from here on SQLite reports every statement it runs.
        self._db.set_trace_callback(self._count)

    # ---- counting

    def _count(self, statement: str) -> None:
        self.total += 1
        log = _request_log.get()
        if log is not None:
            log.statements.append(" ".join(statement.split()))

    def reset_counts(self) -> None:
        self.total = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[QueryLog]:
        """Collect the statements run in this context (one GraphQL request) into a QueryLog."""
        log = QueryLog()
        token = _request_log.set(log)
        try:
            yield log
        finally:
            _request_log.reset(token)

    def _rows(self, sql: str, params: Sequence = ()) -> list[dict]:
        started = time.time_ns()
        with self._lock:
            rows = [dict(r) for r in self._db.execute(sql, tuple(params)).fetchall()]
        self._trace(sql, started, rows)
        return rows

    def _trace(self, sql: str, started: int, rows: list[dict]) -> None:
        ctx = tracing.current()
        if ctx is None:
            return
        table = sql.split(" FROM ", 1)[1].split()[0] if " FROM " in sql else "?"
        tracing.write_span({
            "trace_id": ctx.trace_id, "span_id": tracing.new_id(), "parent_id": ctx.span_id,
            "caller": self.subgraph, "callee": self.name, "transport": "sql",
            "operation": f"SELECT {table} ({len(rows)} row{'s' * (len(rows) != 1)})", "status": "ok",
            "request_bytes": len(sql), "response_bytes": sum(len(str(r)) for r in rows),
            "start_ns": started, "end_ns": time.time_ns(), "pid": os.getpid()})

    # ---- users-graph

    def user(self, user_id: str) -> dict | None:
        check_id("user id", user_id)
        found = self._rows("SELECT id, name, email, balance FROM users WHERE id = ?", (user_id,))
        return found[0] if found else None

    def users_by_ids(self, ids: Sequence[str]) -> list[dict | None]:
        """One statement for many ids; the rows in the order of `ids` (None where there is none)."""
        return self._by_ids("SELECT id, name, email, balance FROM users", "user id", ids)

    def _by_ids(self, select: str, kind: str, ids: Sequence[str], key: str = "id") -> list:
        """`select ... WHERE key IN (the distinct ids)` as one statement; the rows back in the order of
        `ids`, one per id (None where there is none)."""
        ids = [check_id(kind, i) for i in ids]
        if not ids:
            return []
        distinct = sorted(set(ids))
        rows = self._rows(f"{select} WHERE {key} IN ({', '.join('?' * len(distinct))})", distinct)
        by_id = {r[key]: r for r in rows}
        return [by_id.get(i) for i in ids]

    def users(self, first: int) -> list[dict]:
        return self._rows("SELECT id, name, email, balance FROM users ORDER BY rowid LIMIT ?", (_first(first),))

    # ---- orders-graph

    def order(self, order_id: str) -> dict | None:
        check_id("order id", order_id)
        found = self._rows("SELECT id, user_id, concert_id, amount, status FROM orders WHERE id = ?", (order_id,))
        return found[0] if found else None

    def orders(self, first: int) -> list[dict]:
        return self._rows("SELECT id, user_id, concert_id, amount, status FROM orders ORDER BY rowid LIMIT ?",
                          (_first(first),))

    def orders_of_user(self, user_id: str) -> list[dict]:
        check_id("user id", user_id)
        return self._rows("SELECT id, user_id, concert_id, amount, status FROM orders WHERE user_id = ? "
                          "ORDER BY rowid", (user_id,))

    def orders_of_users(self, user_ids: Sequence[str]) -> list[list[dict]]:
        """One statement for many users; a list of orders per user id, in the order of `user_ids`."""
        user_ids = [check_id("user id", i) for i in user_ids]
        if not user_ids:
            return []
        marks = ", ".join("?" * len(set(user_ids)))
        rows = self._rows(f"SELECT id, user_id, concert_id, amount, status FROM orders WHERE user_id IN ({marks}) "
                          "ORDER BY rowid", sorted(set(user_ids)))
        return [[r for r in rows if r["user_id"] == u] for u in user_ids]

    def concert(self, concert_id: str) -> dict | None:
        check_id("concert id", concert_id)
        found = self._rows("SELECT id, title, seats_left, price FROM concerts WHERE id = ?", (concert_id,))
        return found[0] if found else None

    def concerts_by_ids(self, ids: Sequence[str]) -> list[dict | None]:
        return self._by_ids("SELECT id, title, seats_left, price FROM concerts", "concert id", ids)


def _first(first: object) -> int:
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        raise ValueError(f"first must be a whole number from 1 to {MAX_FIRST}, got {first!r}")
    return first


__all__ = ["CUSTOMERS", "Database", "ID_PATTERN", "MAX_FIRST", "ORDERS", "QueryLog", "SUBGRAPHS"]
