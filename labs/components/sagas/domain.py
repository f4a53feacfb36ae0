"""The order saga's business: each service's tables, its starting data, and what each action does to them.

Layer: components (standard library only).

    SCHEMAS["concerts"]                       # CREATE TABLE ... of each service
    seed_rows("payments", users=USERS)        # its starting data
    ACTIONS["payments"]["charge"](db, order)  # True: charged; False: declined (the balance is too low)
    snapshot("concerts", path)                # the service's state as plain dicts (the checker reads it)

The same actions run in both styles; only who triggers them differs (an event in choreography, a
command from the orchestrator in orchestration). They are ordinary business code: none of them is
idempotent on its own (a second `charge` for one order takes the money twice), which is what makes the
inbox of `store.Store` (dedupe on the message id) necessary.

The running example's people and concerts, sized for a saga run: regular customers with money, a few
whose balance is too low (their charge is declined), two whose e-mail address bounces (their ticket
cannot be delivered), a big concert and a small one that sells out.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Callable

SERVICES = ("orders", "concerts", "payments", "notifications", "orchestrator")
PARTICIPANTS = ("concerts", "payments", "notifications")

# user_id -> (balance, e-mail). b*: too little money; x*: an address that bounces (RFC 2606's .invalid)
USERS: dict[str, tuple[int, str]] = {
    **{f"u{n:02}": (5_000, f"u{n:02}@example.org") for n in range(1, 17)},
    "b1": (10, "b1@example.org"), "b2": (10, "b2@example.org"), "b3": (10, "b3@example.org"),
    "x1": (5_000, "x1@mail.invalid"), "x2": (5_000, "x2@mail.invalid"),
}
REGULAR = tuple(u for u in USERS if u.startswith("u"))
BROKE = tuple(u for u in USERS if u.startswith("b"))
BOUNCING = tuple(u for u in USERS if u.startswith("x"))
# concert_id -> (seats, price)
CONCERTS: dict[str, tuple[int, int]] = {"c1": (10_000, 40), "c2": (6, 60)}

SCHEMAS = {
    "concerts": """
        CREATE TABLE IF NOT EXISTS concerts (concert_id TEXT PRIMARY KEY, seats INTEGER, seats_left INTEGER);
        CREATE TABLE IF NOT EXISTS holds (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT,
                                          concert_id TEXT, status TEXT, at REAL);""",
    "payments": """
        CREATE TABLE IF NOT EXISTS accounts (user_id TEXT PRIMARY KEY, balance INTEGER);
        CREATE TABLE IF NOT EXISTS charges (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT,
                                            user_id TEXT, amount INTEGER, status TEXT, at REAL);""",
    "notifications": """
        CREATE TABLE IF NOT EXISTS addresses (user_id TEXT PRIMARY KEY, email TEXT);
        CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT,
                                            email TEXT, at REAL);""",
    "orders": """
        CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, user_id TEXT, concert_id TEXT,
            amount INTEGER, status TEXT, placed_at REAL, finished_at REAL, last_event TEXT);""",
    "orchestrator": """
        CREATE TABLE IF NOT EXISTS sagas (order_id TEXT PRIMARY KEY, body TEXT, state TEXT, step INTEGER,
            waiting_for TEXT, since REAL, history TEXT, placed_at REAL, finished_at REAL);""",
}


def seed_rows(service: str, users: dict | None = None, concerts: dict | None = None) -> list[tuple[str, tuple]]:
    """The INSERTs that give a fresh database its starting data."""
    users = USERS if users is None else users
    concerts = CONCERTS if concerts is None else concerts
    if service == "concerts":
        return [("INSERT INTO concerts VALUES (?, ?, ?)", (c, seats, seats)) for c, (seats, _) in concerts.items()]
    if service == "payments":
        return [("INSERT INTO accounts VALUES (?, ?)", (u, balance)) for u, (balance, _) in users.items()]
    if service == "notifications":
        return [("INSERT INTO addresses VALUES (?, ?)", (u, email)) for u, (_, email) in users.items()]
    return []


def order(order_id: str, user_id: str, concert_id: str, placed_at: float | None = None) -> dict:
    """An order as every message of its saga carries it."""
    if user_id not in USERS:
        raise ValueError(f"user_id must be one of {', '.join(USERS)}; got {user_id!r}")
    if concert_id not in CONCERTS:
        raise ValueError(f"concert_id must be one of {', '.join(CONCERTS)}; got {concert_id!r}")
    return {"order_id": order_id, "user_id": user_id, "concert_id": concert_id,
            "amount": CONCERTS[concert_id][1], "placed_at": time.time() if placed_at is None else placed_at}


# ---------------------------------------------------------------- what each action does


def reserve(db: sqlite3.Connection, order: dict) -> bool:
    """concerts: hold a seat for the order; False when the concert is sold out."""
    left = db.execute("SELECT seats_left FROM concerts WHERE concert_id = ?", (order["concert_id"],)).fetchone()
    if not left or left[0] <= 0:
        return False
    db.execute("UPDATE concerts SET seats_left = seats_left - 1 WHERE concert_id = ?", (order["concert_id"],))
    db.execute("INSERT INTO holds (order_id, concert_id, status, at) VALUES (?, ?, 'held', ?)",
               (order["order_id"], order["concert_id"], time.time()))
    return True


def release(db: sqlite3.Connection, order: dict) -> bool:
    """concerts, compensating `reserve`: give the order's seat back (nothing to do if it holds none)."""
    freed = db.execute("UPDATE holds SET status = 'released', at = ? WHERE order_id = ? AND status = 'held'",
                       (time.time(), order["order_id"])).rowcount
    db.execute("UPDATE concerts SET seats_left = seats_left + ? WHERE concert_id = ?", (freed, order["concert_id"]))
    return True


def charge(db: sqlite3.Connection, order: dict) -> bool:
    """payments: take the amount from the customer's balance; False (declined) when it is too low."""
    balance = db.execute("SELECT balance FROM accounts WHERE user_id = ?", (order["user_id"],)).fetchone()
    if not balance or balance[0] < order["amount"]:
        return False
    db.execute("UPDATE accounts SET balance = balance - ? WHERE user_id = ?", (order["amount"], order["user_id"]))
    db.execute("INSERT INTO charges (order_id, user_id, amount, status, at) VALUES (?, ?, ?, 'charged', ?)",
               (order["order_id"], order["user_id"], order["amount"], time.time()))
    return True


def refund(db: sqlite3.Connection, order: dict) -> bool:
    """payments, compensating `charge`: give back what the order was charged (nothing if it was not)."""
    for charge_id, amount in db.execute("SELECT id, amount FROM charges WHERE order_id = ? AND status = 'charged'",
                                        (order["order_id"],)).fetchall():
        db.execute("UPDATE accounts SET balance = balance + ? WHERE user_id = ?", (amount, order["user_id"]))
        db.execute("UPDATE charges SET status = 'refunded', at = ? WHERE id = ?", (time.time(), charge_id))
    return True


def deliver(db: sqlite3.Connection, order: dict) -> bool:
    """notifications: e-mail the ticket; False when the customer's address bounces."""
    email = db.execute("SELECT email FROM addresses WHERE user_id = ?", (order["user_id"],)).fetchone()
    if not email or email[0].endswith(".invalid"):
        return False
    db.execute("INSERT INTO tickets (order_id, email, at) VALUES (?, ?, ?)", (order["order_id"], email[0], time.time()))
    return True


ACTIONS: dict[str, dict[str, Callable[[sqlite3.Connection, dict], bool]]] = {
    "concerts": {"reserve": reserve, "release": release},
    "payments": {"charge": charge, "refund": refund},
    "notifications": {"deliver": deliver},
}


# ---------------------------------------------------------------- reading a service's state


def snapshot(service: str, path: str) -> dict:
    """A service's business state, read from its database file (read-only)."""
    from .store import rows

    if service == "concerts":
        return {"seats_left": dict(rows(path, "SELECT concert_id, seats_left FROM concerts")),
                "holds": [dict(zip(("order_id", "concert_id", "status"), r))
                          for r in rows(path, "SELECT order_id, concert_id, status FROM holds ORDER BY id")]}
    if service == "payments":
        return {"balances": dict(rows(path, "SELECT user_id, balance FROM accounts")),
                "charges": [dict(zip(("order_id", "user_id", "amount", "status"), r))
                            for r in rows(path, "SELECT order_id, user_id, amount, status FROM charges ORDER BY id")]}
    if service == "notifications":
        return {"tickets": [r[0] for r in rows(path, "SELECT order_id FROM tickets ORDER BY id")]}
    if service == "orders":
        return {"orders": {r[0]: {"status": r[1], "placed_at": r[2], "finished_at": r[3]}
                           for r in rows(path, "SELECT order_id, status, placed_at, finished_at FROM orders")}}
    if service == "orchestrator":
        return {"orders": {r[0]: {"status": r[1], "placed_at": r[2], "finished_at": r[3]}
                           for r in rows(path, "SELECT order_id, state, placed_at, finished_at FROM sagas")}}
    raise ValueError(f"service must be one of {', '.join(SERVICES)}; got {service!r}")
