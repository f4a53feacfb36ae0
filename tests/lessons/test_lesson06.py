"""Lesson 06: the GraphQL helpers, and the lesson's claims shown to fail when the world changes
(the DataLoader switched off, the subgraph alive, no cache in front, a higher cost limit)."""
import sqlite3

import httpx
import pytest
from hishel import SqliteStorage
from hishel.httpx import CacheClient

import labs
from labs import check, trace
from labs.lessons import graphql, showdown
from labs.tools.check import ClaimNotShown

DEEP = graphql.BAD_QUERIES["too deep (orders of the user of each order, three times)"]


@pytest.fixture(scope="module")
def lab():
    return labs.start("graphql", progress=False)


@pytest.fixture
def graph(lab):
    with graphql.Graph(lab) as graph:
        graph.reset()
        yield graph
        graph.reset()


def _fifty(graph, batching: bool):
    graph.batching(batching)
    with graph.counting() as counted:
        answer = graph.ask(graphql.FIFTY_ORDERS)
    return answer, counted


# ---- N+1 -------------------------------------------------------------------------------------------

def test_fifty_orders_cost_one_plus_fifty_statements_without_the_loader_and_one_plus_one_with_it(graph):
    plain, unbatched = _fifty(graph, False)
    loaded, batched = _fifty(graph, True)
    assert unbatched.queries == {"users-graph": 50, "orders-graph": 1}
    assert batched.queries == {"users-graph": 1, "orders-graph": 1}
    assert plain.body == loaded.body and len(plain.data["orders"]) == 50
    # The N+1 is inside resolve_reference: one _entities request carrying all 50 representations.
    assert [(r["fields"], r["representations"]) for r in unbatched.requests["users-graph"]] == [(["_entities"], 50)]
    assert all("WHERE id = " in s for s in unbatched.requests["users-graph"][0]["statements"])


def test_the_dataloader_claim_fails_when_the_loader_is_switched_off(graph):
    check.claim("with the DataLoader: 1 + 1", _fifty(graph, True)[1].queries,
                equals={"users-graph": 1, "orders-graph": 1})
    with pytest.raises(ClaimNotShown, match="measured"):
        check.claim("with the DataLoader: 1 + 1", _fifty(graph, False)[1].queries,
                    equals={"users-graph": 1, "orders-graph": 1})


def test_the_loader_also_batches_the_orders_of_many_users(graph):
    query = "{ users(first: 20) { name orders { id concert { title } } } }"
    graph.batching(False)
    with graph.counting() as unbatched:
        plain = graph.ask(query)
    graph.batching(True)
    with graph.counting() as batched:
        loaded = graph.ask(query)
    assert plain.body == loaded.body
    # orders-graph: each user's orders, then each order's concert; with loaders one query for each kind
    assert unbatched.queries["orders-graph"] == 20 + 20 and batched.queries["orders-graph"] == 2


# ---- one graph, the screen, the trace ---------------------------------------------------------------

def test_field_owners_read_the_supergraph(graph):
    owners = graphql.field_owners(graph.supergraph())
    user = dict(owners.query("type == 'User'")[["field", "subgraph"]].values)
    assert user == {"id": "orders-graph, users-graph", "orders": "orders-graph", "name": "users-graph",
                    "email": "users-graph", "balance": "users-graph"}
    with pytest.raises(ValueError, match="join__Graph"):
        graphql.field_owners("type Query { a: Int }")


def test_readable_sdl_drops_federation_plumbing(lab):
    sdl = httpx.post(lab.endpoint("users-graph")["graphql"], json={"query": "{ _service { sdl } }"}).json()
    text = graphql.readable_sdl(sdl["data"]["_service"]["sdl"])
    assert 'type User @key(fields: "id")' in text and "_entities" not in text and "_Any" not in text
    with pytest.raises(ValueError, match="GraphQL schema"):
        graphql.readable_sdl("")


def test_the_screen_query_returns_exactly_its_fields_and_fewer_fields_fewer_bytes(graph):
    screen = graph.ask(graphql.ORDER_SCREEN, {"id": "o2"})
    status = graph.ask('{ order(id: "o2") { status } }')
    assert graphql.leaf_paths(screen.data) == ["order.amount", "order.concert.seatsLeft", "order.concert.title",
                                               "order.id", "order.status", "order.user.name"]
    assert screen.data["order"]["user"]["name"] == "Alan Turing" and status.bytes < screen.bytes / 2
    assert graphql.leaf_paths({"a": [{"b": 1}, {"b": 2, "c": None}]}) == ["a.b", "a.c"]


def test_the_gateway_forwards_the_trace_header_and_records_its_own_calls(lab):
    with trace.record("screen") as run, trace.http_client("graphql", lab.endpoint("graphql")["http"]) as client:
        client.post("/graphql", json={"query": graphql.ORDER_SCREEN, "variables": {"id": "o2"}}).raise_for_status()
    spans = run.spans
    mine = next(s for s in spans if s["caller"] == "notebook")
    hops = [s for s in spans if s["caller"] == "graphql"]
    assert sorted(s["callee"] for s in hops) == ["orders-graph", "users-graph"]
    assert all(s["parent_id"] == mine["span_id"] and s["status"] == 200 for s in hops)
    # the subgraphs continued the gateway's spans: their SQL statements hang below them
    sql = [s for s in spans if s["transport"] == "sql"]
    assert {s["parent_id"] for s in sql} == {s["span_id"] for s in hops}
    assert "graphql->>+orders_graph" in run.diagram().mermaid


def test_the_trace_claim_fails_when_the_query_needs_only_one_subgraph(lab):
    with trace.record("orders only") as run, trace.http_client("graphql", lab.endpoint("graphql")["http"]) as c:
        c.post("/graphql", json={"query": '{ order(id: "o2") { status } }'}).raise_for_status()
    with pytest.raises(ClaimNotShown):
        check.claim("the gateway called each subgraph once",
                    sorted(s["callee"] for s in run.spans if s["caller"] == "graphql"),
                    equals=["orders-graph", "users-graph"])


def test_an_untraced_request_leaves_no_spans(lab):
    with trace.record("untraced") as run:
        httpx.post(lab.endpoint("graphql")["graphql"], json={"query": graphql.ORDER_SCREEN,
                                                             "variables": {"id": "o2"}}).raise_for_status()
    assert run.spans == []


# ---- partial failure ----------------------------------------------------------------------------------

def _user_with_orders(graph):
    return graph.ask(graphql.USER_WITH_ORDERS, {"id": "u2"})


def test_a_dead_subgraph_gives_http_200_with_partial_data_and_the_claim_fails_while_it_is_up(lab, graph):
    def claim(answer):
        check.claim("orders: null, and an error saying where",
                    (answer.status, answer.data["user"]["orders"], [e["path"] for e in answer.errors]),
                    equals=(200, None, [["user", "orders"]]))

    with pytest.raises(ClaimNotShown):
        claim(_user_with_orders(graph))  # orders-graph is up: the answer is whole
    lab.kill("orders-graph")
    try:
        half = _user_with_orders(graph)
        claim(half)
        assert half.data["user"]["name"] == "Alan Turing"
    finally:
        labs.start("graphql", progress=False)  # starts orders-graph again on the same address
    whole = _user_with_orders(graph)
    assert whole.errors == [] and whole.data["user"]["orders"] == [{"id": "o2", "amount": 60}]


# ---- caching -------------------------------------------------------------------------------------------

def _cache() -> CacheClient:
    return CacheClient(storage=SqliteStorage(connection=sqlite3.connect(":memory:", check_same_thread=False)))


def test_a_persisted_query_over_get_is_cached_and_a_post_is_not(graph):
    body = {"query": graphql.ORDER_SCREEN, "variables": {"id": "o2"}}
    params = graphql.persisted_params(graphql.ORDER_SCREEN, {"id": "o2"})
    with _cache() as cached:
        with graph.counting() as by_post:
            posts = [cached.post(graph.url, json=body) for _ in range(2)]
        with graph.counting() as by_get:
            gets = [cached.get(graph.url, params=params) for _ in range(2)]
    assert [r.extensions["caching"]["from_cache"] for r in posts] == [False, False]
    assert [r.extensions["caching"]["from_cache"] for r in gets] == [False, True]
    assert len(by_post.requests["orders-graph"]) == 2 and len(by_get.requests["orders-graph"]) == 1
    assert gets[1].json() == posts[0].json() and "errors" not in posts[0].json()


def test_the_persisted_get_claim_fails_without_a_cache_in_front(graph):
    params = graphql.persisted_params(graphql.ORDER_SCREEN, {"id": "o2"})
    with httpx.Client() as plain, graph.counting() as counted:
        for _ in range(2):
            plain.get(graph.url, params=params).raise_for_status()
    with pytest.raises(ClaimNotShown):
        check.claim("orders-graph ran it once", len(counted.requests["orders-graph"]), equals=1)


def test_persisted_params_refuse_an_unknown_document():
    with pytest.raises(ValueError, match="no persisted query"):
        graphql.persisted_params("{ orders { id } }")
    with pytest.raises(ValueError, match="non-empty GraphQL document"):
        graphql.persisted_id("")


def test_an_unknown_persisted_id_is_a_graphql_error_not_a_crash(graph):
    answer = httpx.get(graph.url, params={"extensions": '{"persistedQuery": {"version": 1, "sha256Hash": "abc"}}'})
    assert answer.status_code < 500
    assert answer.json()["errors"][0]["message"] == "PersistedQueryNotFound"


# ---- bad input -------------------------------------------------------------------------------------------

def test_bad_queries_get_their_own_error_codes_and_never_a_5xx(graph):
    codes = {}
    for what, query in graphql.BAD_QUERIES.items():
        with graph.counting() as counted:
            answer = graph.ask(query)
        assert answer.status < 500 and answer.seconds < 10, (what, answer)
        codes[what] = answer.codes[0]
    assert list(codes.values()) == ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
                                    "COST_ESTIMATED_TOO_EXPENSIVE"]
    assert counted.queries["orders-graph"] == 0  # the expensive part was never sent
    bad_id = graph.ask('{ order(id: "O 1") { id } }')
    assert bad_id.status == 200 and "must match" in bad_id.errors[0]["message"]
    too_many = graph.ask("{ orders(first: 1000) { id } }")
    assert "from 1 to 100" in too_many.errors[0]["message"]
    not_json = httpx.post(graph.url, content=b"not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 400


def test_the_cost_claim_fails_when_the_gateway_allows_more(lab):
    roomy = labs.start("graphql", options={"graphql": {"max_cost": 100_000}}, progress=False)
    try:
        with graphql.Graph(roomy) as graph:
            answer = graph.ask(DEEP)
        assert answer.errors == []
        with pytest.raises(ClaimNotShown):
            check.claim("the too-deep query was refused", answer.codes, equals=["COST_ESTIMATED_TOO_EXPENSIVE"])
    finally:
        labs.start("graphql", progress=False)  # the default limit again, for the other tests
    with pytest.raises(ValueError, match="max_cost must be a whole number from 1"):
        labs.start("graphql", options={"graphql": {"max_cost": 0}}, progress=False)


def test_graph_client_refuses_bad_arguments(lab, graph):
    with pytest.raises(ValueError, match="GraphQL document as a str"):
        graph.ask({"query": "{ a }"})
    with pytest.raises(ValueError, match="variables must be a dict"):
        graph.ask("{ a }", variables=["o1"])
    with pytest.raises(ValueError, match="True or False"):
        graph.batching("off")
    with pytest.raises(ValueError, match="users-graph, orders-graph"):
        graph.request_log("users")
    with pytest.raises(ValueError, match="timeout"):
        graphql.Graph(lab, timeout=0)
    with pytest.raises(ValueError, match="needs a function"):
        graphql.source("resolve_user")


# ---- the order screen, four ways ---------------------------------------------------------------------------

def test_the_four_ways_fetch_the_same_screen():
    lab = labs.start("graphql", "orders", progress=False)
    with showdown.ScreenContenders(lab) as ways:
        rest, grpc_, graph_, direct = ways.rest(), ways.grpc(), ways.graphql()["order"], ways.direct()
        with pytest.raises(ValueError, match="counted=True"):
            ways.wire_bytes()
    rows = [(rest["order"]["amount"], rest["user"]["name"], rest["concert"]["title"]),
            (grpc_[0].amount, grpc_[1].name, grpc_[2].title),
            (graph_["amount"], graph_["user"]["name"], graph_["concert"]["title"]),
            (direct["amount"], direct["user"]["name"], direct["concert"]["title"])]
    assert len(set(rows)) == 1 and rows[0] == (40, "Ada Lovelace", "The Message Queues: Arena Tour")
    with pytest.raises(ValueError, match="screens"):
        showdown.screen_table(lab, screens=0)


def test_plot_statements_draws_and_refuses_nothing():
    figure = graphql.plot_statements({"plain": {"users-graph": 50, "orders-graph": 1},
                                      "loader": {"users-graph": 1, "orders-graph": 1}})
    assert len(figure.axes[0].patches) == 4
    with pytest.raises(ValueError, match="run: {subgraph"):
        graphql.plot_statements({})


def test_far_away_graphqls_one_round_trip_wins_and_the_claim_fails_for_a_client_next_door():
    lab = labs.start("graphql", "orders", progress=False)

    def claim(times):
        check.claim("far away, GraphQL's one round trip beat REST's three",
                    times[showdown.SCREEN_REST] / times[showdown.SCREEN_GRAPHQL], at_least=1.2)

    claim(showdown.far_screens(lab, latency_ms=150, screens=3, progress=False))
    with pytest.raises(ClaimNotShown):  # the world changed: the client sits next to the servers
        claim(showdown.far_screens(lab, latency_ms=0, screens=5, progress=False))
    with pytest.raises(ValueError, match="latency_ms must be a number from 0 to 1000"):
        showdown.far_screens(lab, latency_ms=5000)
