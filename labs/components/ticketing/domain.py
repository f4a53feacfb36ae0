"""The concert-ticketing domain: data, business rules and the "place an order" flow.

Every transport shares this module: the in-process `Monolith`, the FastAPI apps and the gRPC
servers. That is the point of lesson 01: the rules stay the same, only the calls between them
change from method calls to network calls.

The flow needs four collaborators (users, concerts, payments, notifications). It only knows them
by the methods it calls (the *Port protocols below): a local store satisfies them, and so does
an adapter that calls a remote service over REST or gRPC (see remote.py).

Layer: components.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Protocol

ID_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"  # e.g. "u1", "c3", "o17": short, lowercase, URL-safe
# A client's idempotency key: a UUID is typical; anything of 1-64 of these characters will do.
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
IDEMPOTENCY_WAIT_S = 30.0  # how long a retry waits for the first attempt with its key to finish
MAX_AMOUNT = 1_000_000  # credits; money is always whole credits (ints), never floats
MAX_MESSAGE = 500
MAX_NAME = 100  # a user's name or email, characters
PROFILE_FIELDS = ("name", "email")  # what PUT/PATCH /users/{id} may change


# ---- errors: what can go wrong, independent of the transport that reports it ------------------

class DomainError(Exception):
    """A failure the caller can act on. `reason` is a stable machine-readable word."""
    reason = "error"

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class Invalid(DomainError):
    """The request itself is wrong (bad id, amount out of range): REST 422, gRPC INVALID_ARGUMENT."""
    reason = "invalid"


class NotFound(DomainError):
    """An id that names nothing: REST 404, gRPC NOT_FOUND."""
    reason = "not_found"


class Conflict(DomainError):
    """Valid, but the current state forbids it (sold out, balance too low): REST 409, gRPC FAILED_PRECONDITION."""
    reason = "conflict"


class Unavailable(DomainError):
    """A service the flow needs could not be reached: REST 503, gRPC UNAVAILABLE. Not a bad request."""
    reason = "unavailable"

    def __init__(self, service: str, message: str | None = None):
        super().__init__(message or f"{service} is unavailable", "unavailable")
        self.service = service


# ---- data ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    balance: int


@dataclass(frozen=True)
class Concert:
    id: str
    title: str
    seats_total: int
    seats_left: int
    price: int


@dataclass(frozen=True)
class Reservation:
    """One seat held for a user at the price the concert had when it was reserved."""
    id: str
    concert_id: str
    user_id: str
    price: int


@dataclass(frozen=True)
class Payment:
    id: str
    user_id: str
    amount: int
    reference: str


@dataclass(frozen=True)
class Notification:
    id: str
    user_id: str
    message: str


@dataclass(frozen=True)
class Order:
    id: str
    user_id: str
    concert_id: str
    reservation_id: str
    payment_id: str
    amount: int
    status: str = "confirmed"
    notified: bool = True  # False: paid and booked, but the confirmation could not be sent


# Deterministic seed data, so every run of a lesson starts from the same state. Balances and
# seats are generous enough for a few thousand orders of u1 on c1 (benchmarks); u5 cannot afford
# anything and c3 has two seats, so "insufficient balance" and "sold out" take one call to show.
SEED_USERS = (
    User("u1", "Ada Lovelace", "ada@example.org", 1_000_000),
    User("u2", "Alan Turing", "alan@example.org", 500),
    User("u3", "Grace Hopper", "grace@example.org", 200),
    User("u4", "Edsger Dijkstra", "edsger@example.org", 100),
    User("u5", "Barbara Liskov", "barbara@example.org", 10),
)
SEED_CONCERTS = (
    Concert("c1", "The Message Queues: Arena Tour", 100_000, 100_000, 40),
    Concert("c2", "gRPC and the Streams", 200, 200, 60),
    Concert("c3", "Last Seat Standing (club gig)", 2, 2, 25),
)


# ---- validation shared by every transport ------------------------------------------------------

def check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise Invalid(f"{kind} must match {ID_PATTERN} (got {value!r})")
    return value


def check_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT:
        raise Invalid(f"amount must be a whole number of credits from 1 to {MAX_AMOUNT} (got {value!r})")
    return value


def check_message(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_MESSAGE:
        raise Invalid(f"message must be 1 to {MAX_MESSAGE} characters")
    return value


class _Ids:
    """Readable sequential ids ("o1", "o2", ...): a lesson can name them and a reset repeats them."""

    def __init__(self, prefix: str):
        self.prefix, self.next = prefix, 1

    def new(self) -> str:
        value, self.next = f"{self.prefix}{self.next}", self.next + 1
        return value


# ---- stores: one per service, each guarding its own state -------------------------------------
# A service answers requests on many threads (uvicorn's pool, the gRPC pool), hence the locks.

class UserStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._users = {u.id: u for u in SEED_USERS}

    def get_user(self, user_id: str) -> User:
        check_id("user_id", user_id)
        try:
            return self._users[user_id]
        except KeyError:
            raise NotFound(f"user {user_id} not found") from None

    def update_profile(self, user_id: str, **fields: str) -> User:
        """Change a user's name and/or email (REST PUT sends both, PATCH either); the balance is
        not part of the profile: it changes only through `debit`."""
        unknown = set(fields) - set(PROFILE_FIELDS)
        if unknown or not fields:
            raise Invalid(f"a profile change names one or more of {', '.join(PROFILE_FIELDS)}"
                          + (f" (got {', '.join(sorted(unknown))})" if unknown else " (got none)"))
        for name, value in fields.items():
            if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME:
                raise Invalid(f"{name} must be 1 to {MAX_NAME} characters")
        with self._lock:
            user = self._users[user_id] = replace(self.get_user(user_id), **fields)
            return user

    def debit(self, user_id: str, amount: int) -> User:
        """Take `amount` from the balance, all or nothing."""
        check_amount(amount)
        with self._lock:
            user = self.get_user(user_id)
            if user.balance < amount:
                raise Conflict(f"user {user_id} has {user.balance} credits, needs {amount}",
                               "insufficient_balance")
            user = self._users[user_id] = replace(user, balance=user.balance - amount)
            return user


class ConcertStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # woken on every seat count change (WatchSeats)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._concerts = {c.id: c for c in SEED_CONCERTS}
            self._reservations: dict[str, Reservation] = {}
            self._ids = _Ids("r")
            self._changed.notify_all()

    def list_concerts(self) -> list[Concert]:
        return list(self._concerts.values())

    def wait_for_change(self, concert_id: str, seats_left: int, timeout: float) -> Concert:
        """The concert once its seat count differs from `seats_left`, or as it is after `timeout` s."""
        with self._changed:
            self._changed.wait_for(lambda: self.get_concert(concert_id).seats_left != seats_left, timeout)
            return self.get_concert(concert_id)

    def reserve_many(self, requests: Iterable[tuple[str, str]]) -> list[Reservation]:
        """A group booking, one (concert_id, user_id) per seat, all or nothing: when one seat
        cannot be had, the seats already held are released and the error is raised."""
        held: list[Reservation] = []
        try:
            for concert_id, user_id in requests:
                held.append(self.reserve(concert_id, user_id))
        except Exception:
            for reservation in held:
                self.release(reservation.concert_id, reservation.id)
            raise
        return held

    def get_concert(self, concert_id: str) -> Concert:
        check_id("concert_id", concert_id)
        try:
            return self._concerts[concert_id]
        except KeyError:
            raise NotFound(f"concert {concert_id} not found") from None

    def reserve(self, concert_id: str, user_id: str) -> Reservation:
        """Hold one seat. Concerts does not know users: it trusts the caller checked the user."""
        check_id("user_id", user_id)
        with self._lock:
            concert = self.get_concert(concert_id)
            if concert.seats_left <= 0:
                raise Conflict(f"concert {concert_id} is sold out", "sold_out")
            self._concerts[concert_id] = replace(concert, seats_left=concert.seats_left - 1)
            reservation = Reservation(self._ids.new(), concert_id, user_id, concert.price)
            self._reservations[reservation.id] = reservation
            self._changed.notify_all()
            return reservation

    def release(self, concert_id: str, reservation_id: str) -> Concert:
        """Give a reserved seat back: the compensation when the payment fails."""
        check_id("reservation_id", reservation_id)
        with self._lock:
            concert = self.get_concert(concert_id)
            reservation = self._reservations.get(reservation_id)
            if reservation is None or reservation.concert_id != concert_id:
                raise NotFound(f"reservation {reservation_id} of concert {concert_id} not found")
            del self._reservations[reservation_id]
            concert = self._concerts[concert_id] = replace(concert, seats_left=concert.seats_left + 1)
            self._changed.notify_all()
            return concert


class PaymentLedger:
    """Every payment made, in order. Charging (debit, then record) is `PaymentService`'s job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._payments: list[Payment] = []
            self._ids = _Ids("p")

    def record(self, user_id: str, amount: int, reference: str) -> Payment:
        with self._lock:
            payment = Payment(self._ids.new(), user_id, amount, reference)
            self._payments.append(payment)
            return payment

    def payments(self) -> list[Payment]:
        return list(self._payments)


class NotificationStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._sent: list[Notification] = []
            self._ids = _Ids("n")

    def notify(self, user_id: str, message: str) -> Notification:
        """Record a message to a user (a real system would send an e-mail here)."""
        check_id("user_id", user_id)
        check_message(message)
        with self._lock:
            notification = Notification(self._ids.new(), user_id, message)
            self._sent.append(notification)
            return notification

    def list_notifications(self, user_id: str | None = None) -> list[Notification]:
        if user_id:
            check_id("user_id", user_id)
        return [n for n in self._sent if not user_id or n.user_id == user_id]


def check_idempotency_key(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value):
        raise Invalid(f"idempotency key must be 1 to 64 characters of A-Z a-z 0-9 _ . : -, got {value!r}")
    return value


@dataclass
class _Attempt:
    """The first request seen with an idempotency key: what it asked for and, once done, its order."""
    request: tuple
    done: threading.Event = field(default_factory=threading.Event)
    order: Order | None = None


class OrderBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._orders: dict[str, Order] = {}
            self._ids = _Ids("o")
            self._attempts: dict[str, _Attempt] = {}

    def once(self, key: str | None, request: tuple, place: Callable[[], Order]) -> tuple[Order, bool]:
        """Run `place` at most once per idempotency key; returns (order, replayed).

        A retry with the same key gets the first attempt's order back, also while that attempt
        is still running (it waits for it). Only successes are kept: when the first attempt
        failed, the key is free again and the retry places the order. The same key with a
        different request is the client's bug, answered as Invalid.
        """
        if key is None:
            return place(), False
        check_idempotency_key(key)
        while True:
            with self._lock:
                attempt = self._attempts.get(key)
                first = attempt is None
                if first:
                    attempt = self._attempts[key] = _Attempt(request)
            if attempt.request != request:
                raise Invalid(f"idempotency key {key!r} was already used for a different order {attempt.request}")
            if first:
                break
            if not attempt.done.wait(IDEMPOTENCY_WAIT_S):
                raise Conflict(f"the first request with idempotency key {key!r} is still running",
                               "idempotency_key_in_use")
            if attempt.order is not None:
                return attempt.order, True
            # The first attempt failed and gave the key back: try to be the first now.
        try:
            attempt.order = place()
            return attempt.order, False
        finally:
            if attempt.order is None:
                with self._lock:
                    self._attempts.pop(key, None)
            attempt.done.set()

    def record(self, **fields) -> Order:
        with self._lock:
            order = Order(id=self._ids.new(), **fields)
            self._orders[order.id] = order
            return order

    def get_order(self, order_id: str) -> Order:
        check_id("order_id", order_id)
        try:
            return self._orders[order_id]
        except KeyError:
            raise NotFound(f"order {order_id} not found") from None


# ---- what the flows need from their collaborators ----------------------------------------------

class UsersPort(Protocol):
    def get_user(self, user_id: str) -> User: ...
    def debit(self, user_id: str, amount: int) -> User: ...


class ConcertsPort(Protocol):
    def get_concert(self, concert_id: str) -> Concert: ...
    def reserve(self, concert_id: str, user_id: str) -> Reservation: ...
    def release(self, concert_id: str, reservation_id: str) -> Concert: ...


class PaymentsPort(Protocol):
    def charge(self, user_id: str, amount: int, reference: str) -> Payment: ...


class NotificationsPort(Protocol):
    def notify(self, user_id: str, message: str) -> Notification: ...


# ---- flows ----------------------------------------------------------------------------------------

class PaymentService:
    """Charging a user: payments owns the ledger, users owns the balance."""

    def __init__(self, ledger: PaymentLedger, users: UsersPort):
        self.ledger, self.users = ledger, users

    def charge(self, user_id: str, amount: int, reference: str) -> Payment:
        check_id("user_id", user_id)
        check_amount(amount)
        check_id("reference", reference)
        self.users.debit(user_id, amount)  # raises Conflict when the balance is too low
        return self.ledger.record(user_id, amount, reference)


class OrderService:
    """Placing an order: check the user, reserve a seat, charge, notify, record."""

    def __init__(self, book: OrderBook, users: UsersPort, concerts: ConcertsPort,
                 payments: PaymentsPort, notifications: NotificationsPort):
        self.book, self.users, self.concerts = book, users, concerts
        self.payments, self.notifications = payments, notifications

    def get_order(self, order_id: str) -> Order:
        return self.book.get_order(order_id)

    def place_order(self, user_id: str, concert_id: str, idempotency_key: str | None = None) -> Order:
        return self.place_order_once(user_id, concert_id, idempotency_key)[0]

    def place_order_once(self, user_id: str, concert_id: str,
                         idempotency_key: str | None = None) -> tuple[Order, bool]:
        """Place an order; with an idempotency key, a retry of the same order returns the first
        one instead of charging again. Returns (order, replayed)."""
        check_id("user_id", user_id)
        check_id("concert_id", concert_id)
        return self.book.once(idempotency_key, (user_id, concert_id),
                              lambda: self._place(user_id, concert_id))

    def _place(self, user_id: str, concert_id: str) -> Order:
        user = self.users.get_user(user_id)  # NotFound before any seat is held
        reservation = self.concerts.reserve(concert_id, user.id)
        try:
            payment = self.payments.charge(user.id, reservation.price, reference=reservation.id)
        except Exception:
            # Compensation: there is no transaction spanning services, so undo the reservation by
            # hand. If that fails too the seat stays held; the caller still gets the payment error.
            self._release_quietly(concert_id, reservation.id)
            raise
        notified = self._notify(user, concert_id)
        return self.book.record(user_id=user.id, concert_id=concert_id, reservation_id=reservation.id,
                                payment_id=payment.id, amount=payment.amount, notified=notified)

    def _release_quietly(self, concert_id: str, reservation_id: str) -> None:
        try:
            self.concerts.release(concert_id, reservation_id)
        except DomainError:
            pass

    def _notify(self, user: User, concert_id: str) -> bool:
        # The customer has paid and has a seat: a confirmation that cannot be sent must not undo
        # that. The order records that it is owed one (notified=False).
        try:
            self.notifications.notify(user.id, f"Your ticket for {concert_id} is confirmed. Enjoy the show, {user.name}!")
            return True
        except DomainError:
            return False
