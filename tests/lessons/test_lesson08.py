"""Lesson 08's checks prove what they say: each fails when the gateway's mechanism is switched off.

The claims below are the notebook's own (notebooks/08-api-gateway.ipynb). A "world without" is a
second gateway (ScratchGateway) with one option changed, seen through `Via`, so the lab's own
gateway, and the balancer that holds its address, stay as they are.
"""
import runpy
import shutil
import subprocess
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import labs
from labs import check
from labs.clients import gateway as gw
from labs.clients import grpcweb
from labs.components.gateway.scratch import ScratchGateway
from labs.lessons import gateway, gateway_edge as edge
from labs.tools.check import ClaimNotShown, run_exercise

ROOT = Path(__file__).resolve().parents[2]


class Via:
    """The lab, with its "gateway" answered by a trial gateway."""

    def __init__(self, lab, trial):
        self.lab, self.trial, self.names = lab, trial, lab.names

    def endpoint(self, name):
        return self.trial.endpoint if name == "gateway" else self.lab.endpoint(name)


@pytest.fixture(scope="module")
def lab():
    return labs.start("gateway", progress=False)


@pytest.fixture(scope="module")
def issuer(lab):
    return gw.issuer()


@pytest.fixture(scope="module")
def token(issuer):
    return issuer.token("u1", client_id="mobile-app")


@pytest.fixture
def without(lab):
    """`without(option=value)`: the lab seen through a trial gateway with that option."""
    trials = []

    def make(**options):
        trials.append(ScratchGateway(lab, options).start())
        return Via(lab, trials[-1])

    yield make
    for trial in trials:
        trial.stop()


# ---- translation ------------------------------------------------------------------------------------

def test_json_outside_protobuf_inside_from_a_trace(lab, token):
    from labs import trace
    api = trace.http_client("gateway", lab.endpoint("gateway")["http"], headers={"authorization": f"Bearer {token}"})
    with trace.record("t") as run:
        api.post("/v1/orders", json={"user_id": "u1", "concert_id": "c1"}).raise_for_status()
    outside, inside = gateway.bytes_each_side(run).values()
    assert (outside["transport"], inside["transport"], inside["call"]) == ("http", "grpc",
                                                                           "/ticketing.v1.Orders/PlaceOrder")
    assert outside["response_bytes"] >= 2 * inside["response_bytes"]
    with pytest.raises(ValueError, match="no call to the gateway"):
        gateway.bytes_each_side(type("Empty", (), {"spans": []})())


def test_rest_paths_come_from_the_proto():
    paths = {(row["verb"], row["path"]): row["grpc"] for row in gateway.rest_paths()}
    assert paths[("GET", "/v1/concerts/{concert_id}")] == "/ticketing.v1.Concerts/GetConcert"
    assert paths[("POST", "/v1/orders")] == "/ticketing.v1.Orders/PlaceOrder"


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_curl_can_call_the_rest_paths_as_the_lesson_prints_them(lab, token):
    import json
    import shlex
    got = subprocess.run(shlex.split(gateway.curl_command(lab, token, "/v1/concerts/c1")), capture_output=True,
                         text=True, timeout=30)
    assert json.loads(got.stdout)["id"] == "c1"
    placed = subprocess.run(shlex.split(gateway.curl_command(lab, token, "/v1/orders", "POST",
                                                             '{"user_id": "u1", "concert_id": "c1"}')),
                            capture_output=True, text=True, timeout=30)
    assert json.loads(placed.stdout)["status"] == "confirmed"


# ---- tokens -----------------------------------------------------------------------------------------

def bad_tokens(issuer):
    now = int(time.time())
    claims = {"iss": issuer.issuer, "aud": "ticketing", "sub": "u1", "client_id": "x", "iat": now, "exp": now + 600}

    def sign(payload, key=issuer.private_key):
        return jwt.encode(payload, key, algorithm="ES256", headers={"kid": issuer.kid})

    return {"forged signature": sign(claims, ec.generate_private_key(ec.SECP256R1())),
            "expired 30 s ago": sign({**claims, "exp": now - 30}),
            "expired 10 s ago": sign({**claims, "exp": now - 10}),  # Envoy's default skew (60 s) would pass it
            "alg: none": jwt.encode(claims, None, algorithm="none"),
            "wrong audience": sign({**claims, "aud": "billing"}),
            "missing": None}


def token_claims(verdicts):
    refused = verdicts.drop("valid")
    check.claim("the valid token passed and reached the service once",
                tuple(verdicts.loc["valid", ["status", "reached the service"]]), equals=(200, 1))
    check.claim("every bad token was refused at the gateway (401; 403: a token for another API)",
                sorted(set(refused["status"])), equals=[401, 403])
    check.claim("... and not one of them reached the service", int(refused["reached the service"].sum()), equals=0)


def test_each_refused_token_reaches_no_service(lab, issuer, token):
    verdicts = gateway.try_tokens(lab, {"valid": token, **bad_tokens(issuer)})
    token_claims(verdicts)
    for case in bad_tokens(issuer):
        assert verdicts.loc[case, "reached the service"] == 0, case
        assert verdicts.loc[case, "status"] == (403 if case == "wrong audience" else 401), case


def test_without_the_token_check_the_bad_tokens_reach_the_service(without, issuer, token):
    verdicts = gateway.try_tokens(without(require_jwt=False), {"valid": token, **bad_tokens(issuer)})
    with pytest.raises(ClaimNotShown):
        token_claims(verdicts)


def test_what_the_services_trust(lab, token):
    with gw.client(lab, token) as me:
        seen = me.get("/v1/screens/me", headers={"x-user-id": "u2"}).json()
    assert (seen["user_id"], seen["client_id"], seen["saw_the_token"]) == ("u1", "mobile-app", False)
    assert gateway.straight_to_the_bff(lab, "u2").json()["user_id"] == "u2"


# ---- per-client limits ------------------------------------------------------------------------------

def limit_claims(limited):
    check.claim("A sent 3x its budget at once and got exactly its budget through", limited.passed("A"), equals=10)
    check.claim("... and a 429 for each of the other 20", limited.refused("A"), equals=20)
    check.claim("B, sending at the same time, lost nothing", limited.refused("B"), equals=0)


def _two(lab, issuer):
    stamp = time.time_ns()
    return gateway.two_clients(lab, {"A": issuer.token("u1", client_id=f"a-{stamp}"),
                                     "B": issuer.token("u2", client_id=f"b-{stamp}")}, {"A": 30, "B": 10})


def test_one_client_bursting_gets_429s_and_the_other_loses_nothing(lab, issuer):
    limited = _two(lab, issuer)
    limit_claims(limited)
    assert limited.gateway_limited == 20 and limited.service_calls == 20
    assert limited.limit_headers["x-ratelimit-limit"] == "10"


def test_the_429_check_fails_without_the_limit(without, issuer):
    with pytest.raises(ClaimNotShown):
        limit_claims(_two(without(rate_limit=0), issuer))


def test_two_clients_refuses_mismatched_arguments(lab):
    with pytest.raises(ValueError, match="same clients"):
        gateway.two_clients(lab, {"A": "t"}, {"B": 3})
    with pytest.raises(ValueError, match=r"calls\['A'\] must be a whole number from 1 to 1000"):
        gateway.two_clients(lab, {"A": "t"}, {"A": 0})


# ---- exercise 08.1 -------------------------------------------------------------------------------------

STUB = {"token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "10s"}}


def test_exercise_fails_on_the_stub_that_limits_everyone_together(lab):
    passed, message = run_exercise("08.1", STUB, lab)
    assert not passed and "limits everyone together" in message


def test_exercise_fails_on_a_rule_that_limits_no_one(lab):
    generous = {"token_bucket": {"max_tokens": 1000, "tokens_per_fill": 1000, "fill_interval": "10s"}}
    passed, message = run_exercise("08.1", generous, lab)
    assert not passed and "limits no one" in message


def test_per_client_descriptors_behind_a_small_rule_bucket_get_the_hint_that_fits(lab):
    rule = runpy.run_path(str(ROOT / "solutions" / "08-api-gateway.py"))["rule"]
    passed, message = run_exercise("08.1", {**rule, **STUB}, lab)  # the stub's bucket of 5 kept
    assert not passed and "shared by all" in message and "limits everyone together" not in message


def test_exercise_passes_on_the_solution(lab):
    rule = runpy.run_path(str(ROOT / "solutions" / "08-api-gateway.py"))["rule"]
    passed, message = run_exercise("08.1", rule, lab)
    assert passed, message


@pytest.mark.parametrize("rule, says", [
    ("5 per 10 s", "must be a dict"),
    ({**STUB, "descriptor": []}, "does not know: 'descriptor'"),
    ({"descriptors": []}, "needs its own `token_bucket`"),
    ({**STUB, "descriptors": [{"entries": [{"key": "client", "value": ""}]}]}, "Envoy refused the rule"),
    ({"token_bucket": {"max_tokens": "five", "tokens_per_fill": 5, "fill_interval": "10s"}}, "'five'"),
])
def test_a_malformed_rule_gets_a_clear_answer(lab, rule, says):
    passed, message = run_exercise("08.1", rule, lab)
    assert not passed and says in message, message


# ---- the BFF ---------------------------------------------------------------------------------------------

def bff_claims(inside):
    check.claim("inside the BFF, three calls at once took a fraction of three in turn",
                inside["BFF, 3 calls in sequence"] / inside["BFF, 3 calls in parallel"], at_least=1.5, unit="x")


def test_the_bff_builds_the_screen_faster_in_parallel_and_in_one_request(lab, token):
    with gw.client(lab, token) as api:
        order = api.post("/v1/orders", json={"user_id": "u1", "concert_id": "c1"}).json()
    timings = gateway.screen_timings(lab, token, order["id"], rounds=3)
    bff_claims(timings.backend_ms)
    assert timings.ms["the app's 3 requests, in turn"] >= 2 * timings.ms["BFF, 3 calls in parallel"]
    assert timings.requests == {"the app's 3 requests, in turn": 3, "BFF, 3 calls in sequence": 1,
                                "BFF, 3 calls in parallel": 1}

    def median_ms(path):  # the BFF's own clock for its three calls
        with gw.client(lab, token) as api:
            return sorted(api.get(path).json()["backend_ms"] for _ in range(5))[2]

    from labs.clients.faults import FaultRules
    with FaultRules(lab, "users") as users, users.injected("/ticketing.v1.Users/GetUser", added_latency_ms=40):
        in_turn = f"/v1/screens/orders/{order['id']}?sequential=true"
        without_parallelism = {"BFF, 3 calls in sequence": median_ms(in_turn),
                               "BFF, 3 calls in parallel": median_ms(in_turn)}
    with pytest.raises(ClaimNotShown):  # a BFF that asks in turn cannot win against itself
        bff_claims(without_parallelism)


# ---- retries and shedding -------------------------------------------------------------------------------

def retry_claims(retried):
    check.claim("through the gateway, retries hid all but a few", retried.gateway_errors,
                at_most=retried.direct_errors / 5)


def test_gateway_retries_hide_a_flaky_service(lab, token):
    retried = edge.retries_hide_faults(lab, token, calls=100, error_rate=0.2, seed=8)
    retry_claims(retried)
    assert 10 <= retried.direct_errors <= 35 and retried.gateway_retries >= 10


def test_the_retry_check_fails_without_the_retry_policy(without, token):
    with pytest.raises(ClaimNotShown):
        retry_claims(edge.retries_hide_faults(without(retries=0), token, calls=100, error_rate=0.2, seed=8))


def shed_claims(shed):
    check.claim("users got about the breaker's 16 of the 48 calls", shed.service_calls, at_most=20)
    check.claim("the rest were shed with 503", shed.statuses[503], at_least=48 - 20)


def test_the_circuit_breaker_sheds_load_with_503(lab, token):
    shed = edge.overload(lab, token)
    shed_claims(shed)
    assert shed.gateway_overflow == shed.statuses[503]


def test_the_shedding_check_fails_without_the_circuit_breaker(without, token):
    with pytest.raises(ClaimNotShown):
        shed_claims(edge.overload(without(max_requests=1000), token))


# ---- a single point of failure -----------------------------------------------------------------------------

def failover_claims(two, retry):
    check.claim("with two replicas, killing one failed only the few calls it held", two.failed, at_most=10)
    check.claim("... and with one client retry, none", retry.failed, equals=0)


def _failover(lab, token, replicas):
    front = labs.start("edge", options={"edge": {"gateways": replicas}}, progress=False)
    kill = lambda: lab.kill("gateway")  # noqa: E731
    try:
        two = edge.steady_load(front.endpoint("edge")["http"], token, seconds=2.5, action_at=1, action=kill)
        labs.start("gateway", progress=False)
        retry = edge.steady_load(front.endpoint("edge")["http"], token, seconds=2.5, action_at=1, action=kill,
                                 client_retry=True)
    finally:
        labs.start("gateway", progress=False)
    return two, retry


def test_two_replicas_behind_health_checks_survive_one_dying(lab, token):
    two, retry = _failover(lab, token, replicas=2)
    failover_claims(two, retry)
    assert retry.retried >= 0 and retry.replica[-1] == "gateway-2"


def test_the_failover_check_fails_with_one_replica(lab, token):
    two, retry = _failover(lab, token, replicas=1)
    with pytest.raises(ClaimNotShown):
        failover_claims(two, retry)
    assert two.failed_per_1000 > 300


def test_with_the_only_gateway_killed_every_call_fails(lab, token):
    try:
        alone = edge.steady_load(lab.endpoint("gateway")["http"], token, seconds=1.5, action_at=0.5,
                                 action=lambda: lab.kill("gateway"))
    finally:
        labs.start("gateway", progress=False)
    after = alone.after_action()
    assert after and not any(after)


# ---- gRPC-Web, bad input, cost ---------------------------------------------------------------------------------

def test_a_real_grpc_web_call_passes_the_gateway_and_fails_on_the_grpc_port(lab, token):
    web = gateway.grpc_web_vs_direct(lab, token)
    assert web.through_gateway.ok and web.through_gateway.response["id"] == "c1"
    assert web.through_gateway.wire["request_content_type"] == "application/grpc-web+proto"
    assert not web.to_grpc_port.ok
    no_token = grpcweb.call(lab.endpoint("gateway")["http"], "ticketing.v1.Concerts", "GetConcert",
                            {"concert_id": "c1"})
    assert (no_token.ok, no_token.code) == (False, "UNAUTHENTICATED")
    missing = grpcweb.call(lab.endpoint("gateway")["http"], "ticketing.v1.Concerts", "GetConcert",
                           {"concert_id": "c404"}, headers={"authorization": f"Bearer {token}"})
    assert missing.code == "NOT_FOUND"


def test_lesson_05_can_call_the_grpc_web_demonstration_without_a_lab():
    web = gateway.grpc_web_vs_direct()
    assert web.through_gateway.ok and not web.to_grpc_port.ok


def test_grpcweb_refuses_a_url_that_is_not_http():
    with pytest.raises(ValueError, match="base_url must be an http:// URL"):
        grpcweb.call("127.0.0.1:8080", "ticketing.v1.Concerts", "GetConcert")


def test_bad_input_gets_a_clear_4xx_from_the_gateway(lab, token):
    bad = gateway.bad_inputs(lab, token)
    assert bad["status"].between(400, 499).all(), bad
    assert bad.loc["oversized body", "status"] == 413 and bad.loc["unknown route", "status"] == 404
    with gw.client(lab, token) as api:
        assert "/v1/concerts" in api.get("/v1/tickets/t1").json()["detail"]  # it names the routes it has


def test_the_hop_cost_is_measured_three_ways(lab, token):
    runs = edge.hop_cost(lab, token, calls=20)
    assert set(runs) == {"REST -> gateway -> gRPC", "gRPC, direct", "REST, direct"}
    assert all(run.median_ms > 0 for run in runs.values())


def test_a_gateway_killed_mid_lesson_says_how_to_bring_it_back(lab, token):
    lab.kill("gateway")
    try:
        with pytest.raises(gw.GatewayDown, match=r"labs.start\('gateway'\) brings it back"):
            gateway.bad_inputs(lab, token)
        with pytest.raises(gw.GatewayDown, match="does not answer"):
            edge.overload(lab, token)
    finally:
        labs.start("gateway", progress=False)
    assert gateway.bad_inputs(lab, token)["status"].between(400, 499).all()
