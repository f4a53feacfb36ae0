"""The gateway components: Envoy configs it accepts, the start, the logs, the keys, the BFF, refusals."""
import json

import httpx
import jwt
import pytest

import labs
from labs.clients import gateway as gw
from labs.components.gateway import config, envoy, keys
from labs.components.gateway.scratch import ScratchGateway
from labs.protos.generate import descriptor_set

SERVICES = {name: {"grpc": f"127.0.0.1:{4000 + i}"} for i, name in enumerate(config.SERVICES)}


@pytest.fixture(scope="module")
def lab():
    return labs.start("gateway", progress=False)


@pytest.fixture(scope="module")
def token(lab):
    return gw.issuer().token("u1", client_id="tests")


def _gateway_config(tmp_path, **options):
    return config.gateway(http_port=20001, admin_port=20002, services=SERVICES, bff="http://127.0.0.1:4010",
                          jwks=keys.make_keys(tmp_path / "keys").jwks_path,
                          descriptors=descriptor_set(tmp_path / "t.pb"), options=options)


@pytest.mark.parametrize("options", [{}, {"rate_limit": 0}, {"require_jwt": False, "retries": 0},
                                     {"rate_limit_rule": {"token_bucket": {"max_tokens": 1, "tokens_per_fill": 1,
                                                                           "fill_interval": "1s"}}}],
                         ids=["default", "no limit", "no jwt, no retries", "a rule"])
def test_envoy_accepts_every_gateway_config_the_lab_makes(tmp_path, options):
    envoy.validate(_gateway_config(tmp_path, **options))


def test_envoy_accepts_the_balancer_config():
    envoy.validate(config.balancer(port=20003, admin_port=20004, replicas=["127.0.0.1:1", "127.0.0.1:2"]))


def test_a_refused_config_comes_back_as_envoys_reason_in_one_line(tmp_path):
    bad = {"token_bucket": {"max_tokens": "five", "tokens_per_fill": 5, "fill_interval": "1s"}}
    with pytest.raises(envoy.EnvoyRejected) as refused:
        envoy.validate(_gateway_config(tmp_path, rate_limit_rule=bad))
    message = str(refused.value)
    assert "invalid number" in message and "'five'" in message
    assert '"admin"' not in message and "\n" not in message  # not the config Envoy appends


def test_the_gateway_listens_on_the_loopback_only_and_answers_health(lab):
    endpoint = lab.endpoint("gateway")
    assert set(endpoint) == {"http", "admin"}
    assert all(addr.startswith("127.0.0.1:") for addr in lab.listeners("gateway"))
    assert httpx.get(endpoint["http"] + "/health").json()["status"] == "ok"
    assert httpx.get(endpoint["admin"] + "/ready").text.strip() == "LIVE"


def test_the_log_shows_each_request_with_its_route(lab, token):
    with gw.client(lab, token) as api:
        api.get("/v1/users/u1").raise_for_status()
    from labs.runtime.waiting import poll_until
    assert poll_until(lambda: "/v1/users/u1 -> /ticketing.v1.Users/GetUser 200" in lab.logs("gateway", 200),
                      timeout=5)


def test_a_killed_gateway_comes_back_on_the_same_address_with_the_same_keys(lab, token):
    before = lab.endpoint("gateway")
    lab.kill("gateway")
    with pytest.raises(httpx.TransportError):
        httpx.get(before["http"] + "/health", timeout=2)
    labs.start("gateway", progress=False)
    assert lab.endpoint("gateway") == before
    with gw.client(lab, token) as api:  # a token minted before the crash still works
        assert api.get("/v1/users/u1").status_code == 200


def test_a_rule_envoy_refuses_fails_the_start_with_envoys_message(lab):
    bad = {"token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "10ms"}}
    try:
        with pytest.raises(labs.StartError) as failed:
            labs.start("gateway-2", options={"gateway-2": {"rate_limit_rule": bad}}, progress=False)
        assert "Envoy rejected the configuration" in str(failed.value)
        assert "fill_interval" in str(failed.value)
    finally:
        labs.start("gateway-2", progress=False)


def test_a_scratch_gateway_refuses_a_bad_rule_before_starting(lab):
    with pytest.raises(envoy.EnvoyRejected, match="value is required"):
        ScratchGateway(lab, {"rate_limit_rule": {"descriptors": [{"entries": [{"key": "k"}]}],
                                                 "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1,
                                                                  "fill_interval": "1s"}}}).start()


def test_tokens_from_the_issuer_verify_against_the_jwks_the_gateway_reads():
    issuer = gw.issuer()
    token = issuer.token("u7", client_id="app", ttl_s=60)
    jwk = keys.session_keys().jwks["keys"][0]
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="ticketing", issuer=keys.ISSUER)
    assert (claims["sub"], claims["client_id"]) == ("u7", "app")
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]


@pytest.mark.parametrize("call, message", [
    (lambda: gw.issuer().token(""), "sub must be a non-empty string"),
    (lambda: gw.issuer().token("u1", ttl_s="long"), "ttl_s must be a number"),
    (lambda: gw.stats(None, "gatewy"), "name must be one of gateway, gateway-2, edge"),
])
def test_bad_arguments_name_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_headers_only_the_gateway_may_set_are_dropped_from_clients(lab, token):
    with gw.client(lab, token) as api:
        seen = api.get("/v1/screens/me", headers={"x-user-id": "u2", "x-client-id": "admin-console"}).json()
    assert (seen["user_id"], seen["client_id"]) == ("u1", "tests")


def test_the_bff_answers_4xx_for_requests_it_cannot_serve(lab, token):
    with gw.client(lab, token) as api:
        placed = api.post("/v1/orders", json={"user_id": "u1", "concert_id": "c1"}).json()
        assert api.get("/v1/screens/orders/o999").status_code == 404
        screen = api.get(f"/v1/screens/orders/{placed['id']}?sequential=true").json()
        assert screen["fetched"] == "in sequence" and screen["backend_calls"] == 3
    with gw.client(lab, gw.issuer().token("u2", client_id="tests")) as other:
        assert other.get(f"/v1/screens/orders/{placed['id']}").status_code == 403
    direct = httpx.get(lab.endpoint("bff")["http"] + f"/v1/screens/orders/{placed['id']}")
    assert direct.status_code == 401


def test_gateway_options_are_checked(lab):
    with pytest.raises(labs.LabError, match="options: "):
        labs.start("gateway", options={"gateway": {"ratelimit": 3}}, progress=False)
    with pytest.raises(labs.LabError, match="replicas must be 1 or 2"):
        labs.start("edge", options={"edge": {"replicas": 3}}, progress=False)


def test_the_generated_config_is_kept_for_a_reader(lab):
    cfg = json.loads((lab.component("gateway").data_dir / "envoy.json").read_text())
    assert cfg["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
