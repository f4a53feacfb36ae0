"""Lesson 08: the learner writes the gateway's rate-limit rule; each client must get its own budget.

Layer: exercises.
"""
from __future__ import annotations

import uuid

from ..clients.gateway import EnvoyRejected, issuer
from ..components.gateway.scratch import ScratchGateway
from ..lessons.gateway import two_clients
from ..tools.check import NotYet, register_exercise

BUDGET, WINDOW_S = 5, 10  # requests per client per window, as the exercise asks
GREEDY, MODEST = 3 * BUDGET, BUDGET
FIELDS = ("token_bucket", "descriptors", "rate_limits", "max_dynamic_descriptors",
          "always_consume_default_token_bucket", "local_rate_limit_per_downstream_connection")


@register_exercise("08.1", "add a per-client rate limit", answer="rule", needs=("gateway",))
def check_per_client_limit(rule, lab) -> str:
    if not isinstance(rule, dict):
        raise NotYet(f"`rule` must be a dict of Envoy local_ratelimit fields, like "
                     f"{{'token_bucket': {{...}}, 'rate_limits': [...], 'descriptors': [...]}}; got {type(rule).__name__}")
    unknown = sorted(set(rule) - set(FIELDS))
    if unknown:
        raise NotYet(f"the rule has a field Envoy's local_ratelimit does not know: {unknown[0]!r}; "
                     f"the fields it can have: {', '.join(FIELDS)}")
    if "token_bucket" not in rule:
        raise NotYet("a rule on a route needs its own `token_bucket` (Envoy refuses one without); it is the "
                     "bucket for requests that match no descriptor")
    names = {"A": f"app-a-{uuid.uuid4().hex[:6]}", "B": f"app-b-{uuid.uuid4().hex[:6]}"}  # fresh buckets
    tokens = {c: issuer().token(f"u-{c.lower()}", client_id=client_id) for c, client_id in names.items()}
    try:
        with ScratchGateway(lab, {"rate_limit_rule": rule}) as trial:
            outcome = two_clients(lab, tokens, {"A": GREEDY, "B": MODEST}, base_url=trial.endpoint["http"])
    except EnvoyRejected as err:
        raise NotYet(f"Envoy refused the rule. {err}") from None
    a_ok, a_429, b_ok, b_429 = (outcome.passed("A"), outcome.refused("A"), outcome.passed("B"),
                                outcome.refused("B"))
    seen = f"A (sent {GREEDY}): {a_ok} ok, {a_429} x 429; B (sent {MODEST}): {b_ok} ok, {b_429} x 429"
    if a_429 == 0 and b_429 == 0:
        raise NotYet(f"nobody got a 429 ({seen}): the rule limits no one. Give each client a token bucket "
                     f"of {BUDGET} per {WINDOW_S} s")
    if b_429 and rule.get("descriptors") and rule.get("rate_limits"):
        raise NotYet(f"B stayed within its budget of {BUDGET} and still got {b_429} x 429 ({seen}), although the "
                     f"rule has per-client descriptors: Envoy also takes a token from the rule's own "
                     f"`token_bucket` for every request, so that bucket is shared by all. Make it larger than "
                     f"every client's budget together (or set always_consume_default_token_bucket: false)")
    if b_429:
        raise NotYet(f"B stayed within its budget of {BUDGET} and still got {b_429} x 429 ({seen}): the rule "
                     f"limits everyone together, one bucket for all. Key the bucket on the client: a "
                     f"`rate_limits` action reading the x-client-id header, and a descriptor for it")
    if a_ok != BUDGET:
        raise NotYet(f"A got {a_ok} of its {GREEDY} requests through ({seen}); each client should get exactly "
                     f"{BUDGET} per {WINDOW_S} s (max_tokens and tokens_per_fill {BUDGET}, fill_interval "
                     f"'{WINDOW_S}s')")
    return f"each client has its own budget: {seen}"
