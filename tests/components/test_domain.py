"""The ticketing domain's business rules, in-process (no network, no services)."""
import threading

import pytest

from labs.components.ticketing.domain import (MAX_AMOUNT, ConcertStore, Conflict, Invalid, NotFound,
                                              NotificationStore, OrderBook, OrderService, PaymentLedger,
                                              PaymentService, Unavailable, UserStore)
from labs.components.ticketing.monolith import Monolith


def test_seed_data_is_deterministic_and_shows_the_edge_cases_in_one_call():
    users, concerts = UserStore(), ConcertStore()
    assert [users.get_user(f"u{i}").id for i in range(1, 6)] == ["u1", "u2", "u3", "u4", "u5"]
    assert concerts.get_concert("c3").seats_left == 2, "c3 sells out after two orders"
    assert users.get_user("u5").balance < min(concerts.get_concert(c).price for c in ("c1", "c2", "c3"))


def test_debit_takes_the_amount_all_or_nothing():
    users = UserStore()
    before = users.get_user("u2").balance
    assert users.debit("u2", 100).balance == before - 100
    with pytest.raises(Conflict) as err:
        users.debit("u2", before)  # 100 short now
    assert err.value.reason == "insufficient_balance"
    assert users.get_user("u2").balance == before - 100


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 1.5, "10", True])
def test_amounts_out_of_bounds_are_invalid(amount):
    with pytest.raises(Invalid):
        UserStore().debit("u1", amount)


@pytest.mark.parametrize("bad_id", ["", "U1", "u 1", "../admin", "u" * 41, 7, None])
def test_ids_that_do_not_match_the_pattern_are_invalid_not_missing(bad_id):
    with pytest.raises(Invalid):
        UserStore().get_user(bad_id)


def test_unknown_ids_are_not_found():
    with pytest.raises(NotFound):
        UserStore().get_user("u99")
    with pytest.raises(NotFound):
        ConcertStore().reserve("c99", "u1")
    with pytest.raises(NotFound):
        OrderBook().get_order("o1")


def test_reserving_takes_a_seat_until_sold_out_and_release_gives_it_back():
    concerts = ConcertStore()
    first, second = concerts.reserve("c3", "u1"), concerts.reserve("c3", "u2")
    assert (first.id, second.id, first.price) == ("r1", "r2", 25)
    with pytest.raises(Conflict) as err:
        concerts.reserve("c3", "u3")
    assert err.value.reason == "sold_out"
    assert concerts.release("c3", first.id).seats_left == 1
    with pytest.raises(NotFound):
        concerts.release("c3", first.id)  # a reservation is released once
    with pytest.raises(NotFound):
        concerts.release("c1", second.id)  # and only on its own concert


def test_concurrent_reservations_never_oversell():
    concerts = ConcertStore()
    won = []

    def buy():
        try:
            won.append(concerts.reserve("c3", "u1"))
        except Conflict:
            pass

    threads = [threading.Thread(target=buy) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 2 and concerts.get_concert("c3").seats_left == 0


def test_a_charge_debits_the_user_and_records_the_payment():
    users, ledger = UserStore(), PaymentLedger()
    payment = PaymentService(ledger, users).charge("u1", 40, "r1")
    assert (payment.id, payment.amount, payment.reference) == ("p1", 40, "r1")
    assert users.get_user("u1").balance == 1_000_000 - 40
    with pytest.raises(Conflict):
        PaymentService(ledger, users).charge("u5", 40, "r2")
    assert ledger.payments() == [payment], "a failed charge records nothing"


def test_notifications_are_recorded_per_user():
    store = NotificationStore()
    store.notify("u1", "hello")
    store.notify("u2", "hi")
    assert [n.message for n in store.list_notifications("u1")] == ["hello"]
    assert len(store.list_notifications()) == 2
    with pytest.raises(Invalid):
        store.notify("u1", "")


def test_place_order_checks_reserves_charges_notifies_and_records():
    shop = Monolith()
    order = shop.place_order("u1", "c2")
    assert (order.id, order.status, order.amount, order.notified) == ("o1", "confirmed", 60, True)
    assert shop.get_order("o1") == order
    assert shop.get_user("u1").balance == 1_000_000 - 60
    assert shop.get_concert("c2").seats_left == 199
    assert [p.reference for p in shop.ledger.payments()] == [order.reservation_id]
    assert shop.notifications.list_notifications("u1")[0].message.startswith("Your ticket for c2")


def test_an_unknown_user_is_refused_before_any_seat_is_held():
    shop = Monolith()
    with pytest.raises(NotFound):
        shop.place_order("u99", "c3")
    assert shop.get_concert("c3").seats_left == 2


def test_a_failed_payment_releases_the_seat_again():
    shop = Monolith()
    with pytest.raises(Conflict) as err:
        shop.place_order("u5", "c3")  # u5 cannot afford it
    assert err.value.reason == "insufficient_balance"
    assert shop.get_concert("c3").seats_left == 2, "compensation: the reservation was released"
    assert shop.ledger.payments() == [] and shop.notifications.list_notifications() == []
    with pytest.raises(NotFound):
        shop.get_order("o1")


class _DownPayments:
    def charge(self, user_id, amount, reference):
        raise Unavailable("payments")


class _DownNotifications:
    def notify(self, user_id, message):
        raise Unavailable("notifications")


def test_an_unreachable_payment_service_also_releases_the_seat():
    users, concerts = UserStore(), ConcertStore()
    orders = OrderService(OrderBook(), users, concerts, _DownPayments(), NotificationStore())
    with pytest.raises(Unavailable) as err:
        orders.place_order("u1", "c3")
    assert err.value.service == "payments"
    assert concerts.get_concert("c3").seats_left == 2
    assert users.get_user("u1").balance == 1_000_000


def test_an_unsent_notification_does_not_undo_a_paid_order():
    users, concerts = UserStore(), ConcertStore()
    orders = OrderService(OrderBook(), users, concerts, PaymentService(PaymentLedger(), users),
                          _DownNotifications())
    order = orders.place_order("u1", "c3")
    assert order.status == "confirmed" and order.notified is False


def test_sold_out_and_reset():
    shop = Monolith()
    shop.place_order("u1", "c3")
    shop.place_order("u2", "c3")
    with pytest.raises(Conflict) as err:
        shop.place_order("u3", "c3")
    assert err.value.reason == "sold_out"
    shop.reset()
    assert shop.get_concert("c3").seats_left == 2
    assert shop.place_order("u1", "c3").id == "o1", "ids start again after a reset"


def test_a_profile_change_names_name_or_email_and_never_the_balance():
    users = UserStore()
    assert users.update_profile("u2", name="A").name == "A"
    assert users.update_profile("u2", name="B", email="b@x").email == "b@x"
    assert users.get_user("u2").balance == 500
    for bad in ({}, {"balance": 1}, {"name": ""}, {"email": "x" * 101}, {"name": 7}):
        with pytest.raises(Invalid, match="name|email"):
            users.update_profile("u2", **bad)
    with pytest.raises(NotFound):
        users.update_profile("u99", name="A")
