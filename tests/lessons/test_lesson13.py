"""Lesson 13's capstone: designs refused, wired, run under the seeded faults, and graded on what they measured."""
import math
from pathlib import Path

import httpx
import pytest

import labs
from labs import check
from labs.lessons import backoffice, capstone
from labs.lessons import capstone_run, capstone_wiring
from labs.tools.notebooks import solution_sections

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 40  # the smallest run the lesson allows: about 2 s of orders


def solution_design() -> dict:
    section = solution_sections(ROOT / "solutions" / "13-choosing.py")["13.1"]
    scope: dict = {}
    exec(section, scope)
    return scope["design"]


@pytest.fixture(autouse=True)
def short_runs(monkeypatch):
    monkeypatch.setenv("LABS_BENCH_SCALE", str(ORDERS / 100))  # what CI may do: runs of 40 orders
    # capstone.last() is a test's own run or None: a run that raised must not leave a test reading
    # the report of an earlier test's design (an EventHop that could not start once looked like a
    # broker that lost nothing)
    capstone_run._last.clear()


@pytest.fixture(scope="module")
def lab():
    return labs.start(*capstone.NEEDS, progress=False)


# ---- the design, without a lab ----------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"notfy": ("queue", "x")}, "unknown flow\\(s\\) 'notfy'; the flows are check_balance, reserve_seat"),
    ({"notify": ("SOAP", "x")}, "style must be one of REST, gRPC, queue, event broker, Kafka; got 'SOAP'"),
    ({"record_settlement": ("gRPC", "x")}, "can wire record_settlement as REST, queue, event broker, Kafka.*REST only"),
    ({"charge": {"style": "REST", "gateway": True}}, "only the phone's flow \\(order_screen\\) can go through"),
    ({"order_screen": {"style": "gRPC", "gateway": True}}, "choose style 'REST' with gateway=True"),
    ({"order_screen": {"style": "REST", "gateway": "yes"}}, "gateway must be True or False"),
    ({"notify": ("queue", 42)}, "reason must be text"),
    ({"notify": {"style": "queue", "why": "x"}}, "unknown key\\(s\\) why; allowed: style, reason, gateway"),
    ({"notify": 7}, "must be \\(style, reason\\) or a dict"),
])
def test_a_malformed_design_is_refused_naming_what_is_allowed(change, message):
    with pytest.raises(ValueError, match=message):
        capstone.Design.parse({**capstone.ALL_SYNCHRONOUS, **change})


def test_a_design_missing_flows_or_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="no choice for notify, order_screen: give every flow a style"):
        capstone.Design.parse({k: v for k, v in capstone.ALL_SYNCHRONOUS.items() if k not in ("notify", "order_screen")})
    with pytest.raises(ValueError, match="a design is a dict with one entry per flow"):
        capstone.Design.parse(["REST"] * 7)


def test_the_checker_says_not_yet_for_a_malformed_or_unwirable_design_before_running_anything():
    passed, message = check.run_exercise("13.1", {**capstone.ALL_SYNCHRONOUS, "notify": ("SMS", "")})
    assert not passed and "style must be one of REST, gRPC" in message
    passed, message = check.run_exercise("13.1", {**solution_design(), "check_balance": ("Kafka", "decoupled")})
    assert not passed and "check_balance" in message and "nothing answers the order" in message
    with pytest.raises(ValueError, match="this design cannot be wired"):
        capstone.run(None, {**solution_design(), "charge": ("queue", "decoupled")})


def test_the_schedule_refuses_bad_values():
    from labs.lessons.capstone_run import _schedule
    with pytest.raises(ValueError, match="unknown schedule key\\(s\\) outages; known: outage"):
        _schedule({"outages": None})
    with pytest.raises(ValueError, match="payments_error_rate must be a number from 0 to 1"):
        _schedule({"payments_error_rate": 2})


# ---- the back office ---------------------------------------------------------------------------------

def test_the_back_office_keeps_ids_and_answers_bad_requests_with_4xx():
    office = backoffice.start()
    office.reset()
    office.record("settlement", "o-1", {"amount": 40})
    office.record("settlement", "o-1")
    assert office.ids("settlement") == ["o-1", "o-1"] and office.ids("search") == []
    bad = httpx.post(office.url + "/settlement/records", json={"id": "Not An Id"})
    assert bad.status_code == 422 and "pattern" in bad.text
    unknown = httpx.get(office.url + "/billing/records")
    assert unknown.status_code == 404 and "settlement, search, recommendations, analytics" in unknown.text
    assert office.wipe("settlement") == 2 and office.ids("settlement") == []
    assert backoffice.start() is office  # one per kernel


# ---- runs on the real components ----------------------------------------------------------------------

def test_one_order_all_synchronous_waits_on_eight_services(lab):
    run = capstone.one_order(lab, capstone.ALL_SYNCHRONOUS)
    callees = [s["callee"] for s in run.spans if s["caller"] == "orders"]
    assert callees == ["users", "concerts", "payments", "notifications", "settlement", "search",
                       "recommendations", "analytics"]
    assert "payments->>+users: POST /users/u1/debit" in run.diagram().mermaid


def test_the_stub_fails_with_the_measured_reason(lab):
    passed, message = check.run_exercise("13.1", capstone.ALL_SYNCHRONOUS, lab)
    report = capstone.last()
    assert not passed
    ok_down, n_down = report.during_outage
    assert f"While notifications was down {ok_down} of {n_down} orders succeeded" in message
    assert ok_down / n_down < 0.2 and report.charged_without_order >= 1
    assert "record_settlement is on the synchronous path" in message
    assert f"analytics {report.deliveries['analytics']['expected'] - report.deliveries['analytics']['lost']}" \
        in message and report.deliveries["analytics"]["lost"] > 0
    assert "write a reason" in message
    assert report.protocols == ["REST (HTTP/JSON)"] and len(report.hops) == 8


def test_notification_on_the_synchronous_path_fails_the_check(lab):
    design = {**solution_design(), "notify": ("gRPC", "a fast internal call, typed")}
    passed, message = check.run_exercise("13.1", design, lab)
    assert not passed
    assert "notify sits on the order's synchronous path" in message
    assert "record_settlement" not in message and "seat changes" not in message  # the rest is right
    report = capstone.last()
    assert report.during_outage[0] / report.during_outage[1] < 0.2
    assert any(h.callee == "notifications" and h.transport == "grpc" for h in report.hops)


def test_the_solution_passes_and_shows_reasons_beside_consequences(lab):
    passed, message = check.run_exercise("13.1", solution_design(), lab)
    assert passed, message
    report = capstone.last()
    ok_down, n_down = report.during_outage
    assert n_down and ok_down / n_down >= 0.9 and report.charged_without_order == 0
    assert report.marks["wiped"] > 0  # analytics lost real history at the rebuild, and the replay brought it back
    assert report.lost == 0 and {h.callee for h in report.hops} == {"users", "concerts", "payments", "rabbitmq",
                                                                     "kafka"}
    assert report.screen["requests"] == 1 and "behind the gateway" in report.screen["way"]
    assert "Not graded, your reasons and what they did" in message and "1 request(s) from the phone" in message
    table = capstone.reasons(report)
    assert list(table.columns) == ["graded", "your choice", "your reason", "measured"]
    side = capstone.compare({"stub": report, "again": report})
    assert side.loc["orders succeeded", "stub"] == f"{report.succeeded} of {report.attempted}"


def test_seat_changes_on_an_event_broker_lose_analytics_history(lab):
    design = {**solution_design(), "seat_changes": ("event broker", "every service gets a copy")}
    passed, message = check.run_exercise("13.1", design, lab)
    report = capstone.last()
    assert report is not None and report.design["seat_changes"].style == "event broker", message
    analytics = report.deliveries["analytics"]
    assert report.marks["wiped"] > 0  # analytics held history when it was rebuilt ...
    assert not passed and analytics["lost"] > 0 and report.deliveries["search"]["lost"] == 0  # ... and lost it
    assert "the broker forgot what it had delivered" in message


def test_the_log_check_fails_when_the_replay_is_switched_off(lab, monkeypatch):
    """The same Kafka design, but the rebuilt analytics rejoins its old group instead of replaying."""
    def resume_without_replay(self, target):
        if target in self.readers:
            self.readers[target] = self._reader(target, f"{self.topic}-{target}")  # its old offsets
    monkeypatch.setattr(capstone_wiring.KafkaHop, "resume", resume_without_replay)
    passed, message = check.run_exercise("13.1", solution_design(), lab)
    assert not passed and capstone.last().deliveries["analytics"]["lost"] > 0
    assert "seat changes reached" in message


def test_the_lessons_claims_fail_when_notifications_never_goes_down(lab):
    """The notebook's claims on the all-synchronous run, on a world without the outage."""
    report = capstone.run(lab, capstone.ALL_SYNCHRONOUS, orders=ORDERS, progress=False, schedule={"outage": None})
    ok_down, n_down = report.during_outage
    notifications = next(h for h in report.hops if h.callee == "notifications")
    with pytest.raises(check.ClaimNotShown):
        check.claim("notifications answered only the calls made while it was up",
                    notifications.ok / notifications.calls, at_most=0.8)
    with pytest.raises(check.ClaimNotShown):
        check.claim("orders failed while notifications was down", ok_down / n_down if n_down else math.nan,
                    at_most=0.2)
    with pytest.raises(check.ClaimNotShown):
        check.claim("customers were charged for orders that then failed", report.charged_without_order, at_least=1)
    predicted = (1 - capstone.SCHEDULE["payments_error_rate"]) * (1 - 0.35)
    with pytest.raises(check.ClaimNotShown):
        check.claim("orders succeeded as often as the hops multiplied", abs(report.availability - predicted),
                    at_most=0.1)
