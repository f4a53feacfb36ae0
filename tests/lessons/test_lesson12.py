"""Lesson 12's claims hold on the real services, and fail when the world changes: a compensation taken away,
the outbox or the dedupe switched off, the checker run on the same seed without its protections, the
broker killed. The claims are the notebook's own (notebooks/12-choreography-vs-orchestration.ipynb)."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labs import check, trace
from labs.clients import rabbit
from labs.lessons import saga_checker, saga_crashes, saga_views, sagas
from labs.lessons.sagas import Step
from labs.runtime import LabError
from labs.runtime.waiting import poll_until
from labs.tools.check import ClaimNotShown


def assert_mermaid_parses(text: str) -> None:
    """The trace tests' check with JupyterLab's own mermaid (tests/ is not a package: load it by path)."""
    spec = importlib.util.spec_from_file_location("trace_tests", Path(__file__).parents[1] / "tools" / "test_trace.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.assert_mermaid_parses(text)


CRASH_AT = {"concerts": {"crash": [["o-17", "reserve"]]}}
NO_RELEASE = [Step("reserve a seat", "concerts", "reserve"), Step("charge", "payments", "charge"),
              Step("deliver the ticket", "notifications", "deliver")]


@pytest.fixture(scope="module")
def shops(brokers):
    both = {style: sagas.Shop(brokers, style, label=f"test-{style}", progress=False)
            for style in sagas.STYLES}
    yield both
    for shop in both.values():
        shop.close()


def traced(shop, user="u01", concert="c1", name="saga"):
    with trace.record(name) as run:
        order = shop.place(user, concert)
        assert shop.wait([order], timeout=15)
    return order, run


# ---------------------------------------------------------------- one saga in each style


def test_one_saga_in_each_style_is_drawn_from_its_real_messages(shops):
    choreo, choreo_run = traced(shops["choreography"])
    orch, orch_run = traced(shops["orchestration"])
    check.claim("each service published one event of its own, and no one sent a command",
                dict(saga_views.messages(choreo_run.spans)),
                equals={"customer": 1, "orders": 1, "concerts": 1, "payments": 1, "notifications": 1})
    check.claim("the orchestrator sent all three commands; each participant only replied",
                dict(saga_views.messages(orch_run.spans)),
                equals={"customer": 1, "orchestrator": 3, "concerts": 1, "payments": 1, "notifications": 1})
    assert shops["choreography"].story(choreo) == {"orders": "CONFIRMED", "concerts": ["held"],
                                                   "payments": ["charged"], "notifications": 1}
    assert [key for _, key in saga_views.message_flow(orch_run.spans)] == [
        "order.place", "cmd.concerts.reserve", "reply.concerts.reserve", "cmd.payments.charge",
        "reply.payments.charge", "cmd.notifications.deliver", "reply.notifications.deliver"]
    for run in (choreo_run, orch_run):
        assert_mermaid_parses(run.diagram().mermaid)
        assert "orchestrator" not in run.diagram().participants or run is orch_run


def test_orchestration_takes_two_messages_per_step_and_longer(shops):
    took = sagas.latencies(shops, 15)
    assert all(0 < t < 5 for ts in took.values() for t in ts)
    fig = saga_views.plot_latencies(took)
    assert len(fig.axes[0].get_yticklabels()) == 2


def test_the_declined_charge_is_compensated_in_both_styles(shops):
    for style, shop in shops.items():
        order = sagas.run_one(shop, "b1", "c1")
        check.claim(f"{style}: REJECTED, the seat released, nothing charged, no ticket", shop.story(order),
                    equals={shop.coordinator: "REJECTED", "concerts": ["released"], "payments": [],
                            "notifications": 0})


def test_without_the_seat_s_compensation_the_declined_order_keeps_its_seat(brokers):
    with sagas.Shop(brokers, "orchestration", saga=NO_RELEASE, label="test-no-release", progress=False) as shop:
        order = sagas.run_one(shop, "b1", "c1")
        with pytest.raises(ClaimNotShown):
            check.claim("REJECTED, the seat released, nothing charged, no ticket", shop.story(order),
                        equals={"orchestrator": "REJECTED", "concerts": ["released"], "payments": [],
                                "notifications": 0})
        assert shop.story(order)["concerts"] == ["held"]


# ---------------------------------------------------------------- the dual write and the outbox


def crash_once(brokers, outbox, dedupe=True, label="test-dual"):
    shop = sagas.Shop(brokers, "choreography", outbox=outbox, dedupe=dedupe, faults=CRASH_AT, auto_restart=False,
                      label=label, progress=False)
    shop.place("u01", "c1", "o-17")
    shop.wait_for_crash("concerts")
    after_crash = shop.story("o-17")
    shop.restart("concerts")
    shop.wait(["o-17"], timeout=2)
    return shop, after_crash


def dual_write_claims(after_crash, lost):
    check.claim("concerts had committed the seat before it died", after_crash["concerts"], equals=["held"])
    check.claim("2 s after the restart the order is still PENDING: seat.reserved was never published",
                lost["orders"], equals="PENDING")
    check.claim("the seat stays held and nothing is charged: a seat without payment",
                (lost["concerts"], lost["payments"]), equals=(["held"], []))


def test_a_crash_between_commit_and_publish_loses_the_event(brokers):
    shop, after_crash = crash_once(brokers, outbox=False)
    with shop:
        dual_write_claims(after_crash, shop.story("o-17"))
        assert shop.duplicates("concerts") == ["o-17:order.placed"]  # redelivered, and skipped


def test_the_same_crash_with_the_outbox_loses_nothing(brokers):
    shop, after_crash = crash_once(brokers, outbox=True, label="test-outbox")
    with shop:
        assert shop.wait(["o-17"], timeout=10)
        with pytest.raises(ClaimNotShown):
            dual_write_claims(after_crash, shop.story("o-17"))
        assert shop.story("o-17") == {"orders": "CONFIRMED", "concerts": ["held"], "payments": ["charged"],
                                      "notifications": 1}


def test_without_the_inbox_the_crash_reserves_a_second_seat(brokers):
    shop, _ = crash_once(brokers, outbox=False, dedupe=False, label="test-no-inbox")
    with shop:
        assert shop.wait(["o-17"], timeout=10)
        assert shop.story("o-17")["concerts"] == ["held", "held"]


@pytest.mark.parametrize("dedupe", [True, False])
def test_a_resent_event_changes_nothing_only_with_the_dedupe(brokers, dedupe):
    with sagas.Shop(brokers, "choreography", dedupe=dedupe, label=f"test-resend-{dedupe}", progress=False) as shop:
        order = sagas.run_one(shop, "u01", "c1")
        event = {"msg_id": f"{order['order_id']}:seat.reserved", "type": "seat.reserved", "order": order}
        with rabbit.channel(brokers) as ch:
            rabbit.publish(ch, "seat.reserved", event, exchange=shop.exchange, persistent=True, sender="relay")
        skipped = shop.wait_for_duplicate("payments", event["msg_id"], timeout=3 if dedupe else 1)
        time.sleep(0.3)
        charges = shop.story(order)["payments"]
    if dedupe:
        assert skipped and charges == ["charged"]
    else:
        assert not skipped
        with pytest.raises(ClaimNotShown):
            check.claim("o-17 still has exactly one charge", charges, equals=["charged"])


# ---------------------------------------------------------------- the orchestrator's crash


def recovery_claims(recovery):
    check.claim("after the restart every one of them ended (confirmed + compensated)",
                recovery.confirmed_after + recovery.rejected_after, equals=recovery.in_flight)
    check.claim("the participants' inboxes skipped every command sent again", recovery.skipped,
                at_least=recovery.resent)  # more when the killed relay had published a row, not marked it
    check.claim("the checker's rules find nothing wrong with the 40 sagas", len(recovery.violations), equals=0)


def test_a_killed_orchestrator_resumes_and_every_saga_ends_consistent(brokers):
    recovery = saga_crashes.crash_orchestrator(brokers, sagas=40, kill_after=8)
    recovery_claims(recovery)
    assert recovery.in_flight >= 5 and recovery.rejected_after >= 1
    assert recovery.resent == recovery.in_flight
    assert 0 < recovery.restart_s <= recovery.all_ended_s < 30


def test_the_resumed_orchestrator_s_resends_do_harm_without_the_dedupe(brokers):
    recovery = saga_crashes.crash_orchestrator(brokers, sagas=40, kill_after=8, dedupe=False)
    with pytest.raises(ClaimNotShown):
        recovery_claims(recovery)
    assert recovery.resent >= 5 and recovery.skipped == 0  # every copy was carried out again
    assert {v.kind for v in recovery.violations} & {"charged twice", "seat held twice"}


def test_the_shop_is_not_settled_while_a_message_waits_in_a_queue(brokers):
    """What crash_orchestrator waits for before it reads the result: settle() must not say "quiet"
    while a copy is still on its way (here: seat.reserved in the queue of a payments that is down)."""
    with sagas.Shop(brokers, "choreography", label="test-settle", progress=False) as shop:
        assert shop.settle(timeout=10)
        shop.kill("payments")
        order = shop.place("u01", "c1")
        shop.wait_until(lambda: rabbit.queue_depth(brokers, shop.queues["payments"])[0] == 1)
        assert not shop.settle(timeout=1.5)
        shop.restart("payments")
        assert shop.settle(timeout=10) and shop.story(order)["payments"] == ["charged"]


# ---------------------------------------------------------------- where is order 42?


def test_where_is_order_42_takes_eight_places_against_one(brokers, shops):
    tables = {}
    for style, shop in shops.items():
        shop.kill("payments")
        order = shop.place("u02", "c1", f"o-42-{style[:4]}")
        shop.wait_until(lambda: rabbit.queue_depth(brokers, shop.queues["payments"])[0] == 1)
        tables[style] = saga_views.where_is(shop, order)
        shop.restart("payments")
        assert shop.wait([order], timeout=10)
    assert (len(tables["choreography"]), len(tables["orchestration"])) == (8, 1)
    assert "waiting" in tables["orchestration"].iloc[0, 2] and "payments to charge" in tables["orchestration"].iloc[0, 2]
    assert "1 message(s) waiting" in " ".join(tables["choreography"].iloc[:, 2])


# ---------------------------------------------------------------- the checker


def test_the_same_seed_gives_the_same_schedule():
    a, b = saga_checker.make_schedule(7, 200), saga_checker.make_schedule(7, 200)
    assert a == b and a.faults() == b.faults()
    assert saga_checker.make_schedule(8, 200) != a
    assert len(a.crash) == 3 and len(a.lost_ack) == 8 and len(a.resend) == 8 and a.latency
    assert len(saga_checker.make_schedule(1, 10).orders) == 10  # a short run still gets a schedule
    assert list(a.table()["fault"][:3]) == ["crash"] * 3


@pytest.fixture(scope="module")
def checked(brokers):
    """The acceptance runs: every combination of the protections, both styles, one seed."""
    schedule = saga_checker.make_schedule(7, 200)
    runs = [(style, outbox, dedupe) for style in sagas.STYLES for outbox in (True, False) for dedupe in (True, False)]
    return saga_checker.run_many(brokers, schedule, runs, progress=False)


@pytest.mark.parametrize("style", sagas.STYLES)
def test_with_outbox_and_dedupe_the_checker_finds_nothing(checked, style):
    report = checked[(style, True, True)]
    check.claim(f"{style}, outbox + dedupe: 200 sagas under the faults, 0 violations", len(report.violations),
                equals=0)
    assert report.outcomes.get("unfinished", 0) == 0 and len(report.crashes) == 3


@pytest.mark.parametrize("style", sagas.STYLES)
@pytest.mark.parametrize("outbox, dedupe", [(False, True), (True, False), (False, False)])
def test_on_the_same_seed_the_checker_finds_violations_with_a_protection_off(checked, style, outbox, dedupe):
    report = checked[(style, outbox, dedupe)]
    with pytest.raises(ClaimNotShown):
        check.claim(f"{style}: 0 violations", len(report.violations), equals=0)
    kinds = set(report.counts())
    if not outbox and dedupe:
        assert {"never finished", "seat without payment"} <= kinds  # events lost at the crash points
    if not dedupe:
        assert kinds & {"charged twice", "seat held twice"}     # redeliveries handled twice


def test_the_checker_plot_has_a_row_per_run(checked):
    fig = saga_checker.plot(checked.values())
    assert len(fig.axes[0].get_yticklabels()) == len(checked)


def test_the_rules_find_a_seat_without_payment_and_money_out_of_balance():
    state = {"orders": {"orders": {"o1": {"status": "CONFIRMED"}, "o2": {"status": "PENDING"}}},
             "concerts": {"seats_left": {"c1": 9_998, "c2": 6},
                          "holds": [{"order_id": "o1", "concert_id": "c1", "status": "held"},
                                    {"order_id": "o2", "concert_id": "c1", "status": "held"}]},
             "payments": {"balances": {u: b for u, (b, _) in sagas.domain.USERS.items()},
                          "charges": [{"order_id": "o1", "status": "charged"}]},
             "notifications": {"tickets": ["o1"]}}
    state["payments"]["balances"]["u01"] -= 80  # 80 taken, the one confirmed order costs 40
    found = {(v.kind, v.order_id) for v in saga_checker.violations(state, "orders", [("o1", "u01", "c1"),
                                                                                     ("o2", "u01", "c1")])}
    assert found == {("never finished", "o2"), ("seat without payment", "o2"), ("money not conserved", None),
                     ("seats not conserved", None)}


# ---------------------------------------------------------------- bad input and a broker that goes away


@pytest.mark.parametrize("call, words", [
    (lambda lab: sagas.Shop(lab, "dance"), "choreography, orchestration"),
    (lambda lab: sagas.Shop(lab, "choreography", faults={"bank": {}}), "orders, concerts, payments"),
    (lambda lab: saga_checker.make_schedule(seed=-1), "seed must be a whole number from 0"),
    (lambda lab: saga_checker.make_schedule(sagas=5), "sagas must be a whole number from 10"),
    (lambda lab: sagas.latencies(None, 0), "n must be a whole number from 1"),
    (lambda lab: saga_crashes.crash_orchestrator(lab, sagas=10, kill_after=10), "kill_after must be"),
])
def test_bad_arguments_are_refused_naming_the_range(brokers, call, words):
    with pytest.raises(ValueError, match=words):
        call(brokers)


def test_an_order_for_an_unknown_user_is_refused_before_anything_is_sent(shops):
    with pytest.raises(ValueError, match="user_id must be one of u01"):
        shops["choreography"].place("nobody", "c1")


def test_rabbitmq_killed_mid_saga_gives_a_clear_error_and_the_sagas_finish_once_it_is_back(brokers):
    shop = sagas.Shop(brokers, "orchestration", label="test-broker-killed", progress=False)
    try:
        orders = [shop.place("u01", "c1") for _ in range(20)]
        brokers.kill("rabbitmq")
        started = time.monotonic()
        with pytest.raises(LabError, match=r"lost RabbitMQ.*labs\.start\('rabbitmq'\)"):
            shop.wait(orders, timeout=30)
        assert time.monotonic() - started < 10
        with pytest.raises(LabError, match=r"labs\.start\('rabbitmq'\)"):
            shop.place("u01", "c1")
    finally:
        brokers.restart("rabbitmq")
    with shop:
        assert shop.wait(orders, timeout=30)  # persistent messages in durable queues: nothing was lost
        assert set(shop.statuses().values()) == {"CONFIRMED"}


ORPHAN = """
import json, sys, time
from labs.lessons import sagas
shop = sagas.Shop(sys.argv[1], "orchestration", label="orphan", progress=False)
print(json.dumps({"pids": [c.pid for c in shop.children.values()], "dir": str(shop.dir)}), flush=True)
time.sleep(600)
"""


def test_a_kernel_killed_with_sigkill_leaves_no_service_and_no_database_behind(brokers):
    kernel = subprocess.Popen([sys.executable, "-c", ORPHAN, rabbit.amqp_url(brokers)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "LABS_PROGRESS": "0"})
    shop = json.loads(kernel.stdout.readline())
    os.kill(kernel.pid, signal.SIGKILL)
    kernel.wait()

    def gone(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    assert poll_until(lambda: all(gone(p) for p in shop["pids"]) and not os.path.exists(shop["dir"]), 20)
