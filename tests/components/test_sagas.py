"""The saga services' pieces without a broker: the store's one transaction (inbox, effects, outbox),
the orchestrator's state machine, the actions, and the argument errors."""
import sqlite3

import pytest

from labs.components.sagas import domain, flows
from labs.components.sagas.store import Outgoing, Store, outbox_of


def order(order_id="o1", user="u01", concert="c1"):
    return domain.order(order_id, user, concert, placed_at=0.0)


@pytest.fixture
def payments(tmp_path):
    def make(**switches):
        store = Store(str(tmp_path / f"payments-{len(switches)}-{sorted(switches.items())}.sqlite"), **switches)
        store.create(domain.SCHEMAS["payments"], domain.seed_rows("payments"))
        return store
    return make


def charge_message(order_id="o1", user="u01"):
    return {"msg_id": f"{order_id}:seat.reserved", "type": "seat.reserved", "order": order(order_id, user)}


REACT = flows.reaction("payments", "choreography")


def test_the_inbox_turns_a_second_delivery_into_a_no_op(payments):
    store = payments()
    first = store.handle(charge_message(), REACT)
    assert [o.routing_key for o in first] == ["payment.charged"]
    assert store.handle(charge_message(), REACT) is None
    assert store.duplicates == 1
    assert domain.snapshot("payments", store.path)["balances"]["u01"] == 5_000 - 40


def test_without_the_inbox_a_second_delivery_charges_again(payments):
    store = payments(dedupe=False)
    store.handle(charge_message(), REACT)
    store.handle(charge_message(), REACT)
    assert domain.snapshot("payments", store.path)["balances"]["u01"] == 5_000 - 80


def test_the_outbox_row_is_committed_with_the_state_change_and_relayed_once(payments):
    store = payments()
    store.handle(charge_message(), REACT, trace="t:s:payments")
    pending = store.pending()
    assert [(p.msg_id, p.routing_key, p.trace) for p in pending] == [("o1:payment.charged", "payment.charged",
                                                                         "t:s:payments")]
    store.mark_sent(pending[0].seq)
    assert store.pending() == [] and outbox_of(store.path)[0]["sent"] is True


def test_a_failing_reaction_leaves_nothing_behind(payments):
    store = payments()

    def broken(db, message):
        REACT(db, message)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.handle(charge_message(), broken)
    assert domain.snapshot("payments", store.path)["charges"] == []
    assert store.pending() == []
    assert store.handle(charge_message(), REACT) is not None  # the id was not remembered either


def test_without_the_outbox_the_messages_come_back_to_be_published(payments):
    store = payments(outbox=False)
    out = store.handle(charge_message(), REACT)
    assert [o.routing_key for o in out] == ["payment.charged"] and store.pending() == []


def test_a_restarted_store_keeps_its_state_and_is_not_seeded_again(payments, tmp_path):
    store = payments()
    store.handle(charge_message(), REACT)
    again = Store(store.path)
    again.create(domain.SCHEMAS["payments"], domain.seed_rows("payments"))
    assert domain.snapshot("payments", again.path)["balances"]["u01"] == 5_000 - 40


# ---------------------------------------------------------------- the actions


def seeded(*services):
    """An in-memory database with the tables and starting data of `services`."""
    db = sqlite3.connect(":memory:")
    for service in services:
        db.executescript(domain.SCHEMAS[service])
        for sql, row in domain.seed_rows(service):
            db.execute(sql, row)
    return db


def test_a_low_balance_is_declined_and_a_sold_out_concert_refused():
    db = seeded("payments", "concerts")
    assert domain.charge(db, order(user="b1")) is False
    assert [domain.reserve(db, order(f"o{n}", concert="c2")) for n in range(7)] == [True] * 6 + [False]
    domain.release(db, order("o0", concert="c2"))
    domain.release(db, order("o0", concert="c2"))  # nothing left to release: no seat appears
    assert db.execute("SELECT seats_left FROM concerts WHERE concert_id = 'c2'").fetchone()[0] == 1


def test_a_refund_gives_back_what_was_charged_once():
    db = seeded("payments")
    domain.charge(db, order())
    domain.refund(db, order())
    domain.refund(db, order())
    assert db.execute("SELECT balance FROM accounts WHERE user_id = 'u01'").fetchone()[0] == 5_000


def test_bouncing_addresses_get_no_ticket():
    db = seeded("notifications")
    assert domain.deliver(db, order(user="u01")) is True
    assert domain.deliver(db, order(user="x1")) is False


# ---------------------------------------------------------------- the orchestrator's state machine


def reply(order_id, step, action, ok, service):
    return {"msg_id": f"{order_id}:{step}:{action}:reply", "type": "reply", "service": service, "action": action,
            "step": step, "ok": ok, "order_id": order_id}


@pytest.fixture
def saga_db():
    db = sqlite3.connect(":memory:")
    db.executescript(domain.SCHEMAS["orchestrator"])
    return db


REFUNDING = [flows.Step("reserve", "concerts", "reserve", "release"),
             flows.Step("charge", "payments", "charge", "refund"),
             flows.Step("deliver", "notifications", "deliver")]


def test_the_orchestrator_sends_one_command_at_a_time_and_confirms(saga_db):
    orch = flows.Orchestrator(flows.ORDER_SAGA)
    sent = orch.react(saga_db, {"msg_id": "o1:place", "type": "order.place", "order": order()})
    keys = [sent[0].routing_key]
    for step, (action, service) in enumerate([("reserve", "concerts"), ("charge", "payments"),
                                              ("deliver", "notifications")]):
        sent = orch.react(saga_db, reply("o1", step, action, True, service))
        keys += [o.routing_key for o in sent]
    assert keys == ["cmd.concerts.reserve", "cmd.payments.charge", "cmd.notifications.deliver"]
    assert saga_db.execute("SELECT state FROM sagas").fetchone()[0] == flows.CONFIRMED


def test_a_failure_sends_the_compensations_last_done_first(saga_db):
    orch = flows.Orchestrator(REFUNDING)
    orch.react(saga_db, {"msg_id": "o1:place", "type": "order.place", "order": order()})
    orch.react(saga_db, reply("o1", 0, "reserve", True, "concerts"))
    orch.react(saga_db, reply("o1", 1, "charge", True, "payments"))
    undo = orch.react(saga_db, reply("o1", 2, "deliver", False, "notifications"))
    then = orch.react(saga_db, reply("o1", 1, "refund", True, "payments"))
    assert [o.routing_key for o in undo + then] == ["cmd.payments.refund", "cmd.concerts.release"]
    assert orch.react(saga_db, reply("o1", 0, "release", True, "concerts")) == []
    assert saga_db.execute("SELECT state FROM sagas").fetchone()[0] == flows.REJECTED


def test_a_late_or_repeated_reply_is_ignored(saga_db):
    orch = flows.Orchestrator(flows.ORDER_SAGA)
    orch.react(saga_db, {"msg_id": "o1:place", "type": "order.place", "order": order()})
    assert orch.react(saga_db, reply("o1", 0, "reserve", True, "concerts"))
    assert orch.react(saga_db, reply("o1", 0, "reserve", True, "concerts")) == []
    assert orch.stale == 1


def test_resume_sends_again_what_each_unfinished_saga_waits_for(saga_db):
    orch = flows.Orchestrator(flows.ORDER_SAGA)
    for n in range(3):
        orch.react(saga_db, {"msg_id": f"o{n}:place", "type": "order.place", "order": order(f"o{n}")})
    orch.react(saga_db, reply("o1", 0, "reserve", True, "concerts"))
    again = flows.Orchestrator(flows.ORDER_SAGA).resume(saga_db)
    assert sorted((o.body["order"]["order_id"], o.body["msg_id"]) for o in again) == [
        ("o0", "o0:0:reserve"), ("o1", "o1:1:charge"), ("o2", "o2:0:reserve")]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("make, words", [
    (lambda: flows.Step("x", "bank", "charge"), "concerts, payments, notifications"),
    (lambda: flows.Step("x", "payments", "deliver"), "charge, refund"),
    (lambda: flows.Step("x", "concerts", "reserve", compensation="refund"), "reserve, release"),
    (lambda: flows.bindings("dance"), "choreography, orchestration"),
    (lambda: flows.steps_of([]), "non-empty list"),
    (lambda: domain.order("o1", "nobody", "c1"), "u01"),
    (lambda: domain.order("o1", "u01", "c9"), "c1, c2"),
    (lambda: domain.snapshot("bank", "x"), "orders, concerts"),
])
def test_bad_input_is_refused_naming_what_is_allowed(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_every_style_binds_each_service_and_only_its_keys():
    assert flows.bindings("choreography")["payments"] == ["seat.reserved"]
    assert flows.bindings("orchestration") == {"orchestrator": ["order.place", "reply.#"],
                                               "concerts": ["cmd.concerts.*"], "payments": ["cmd.payments.*"],
                                               "notifications": ["cmd.notifications.*"]}
    assert isinstance(flows.event("seat.reserved", order()), Outgoing)
