"""Property-based tests of every service's REST API against its own OpenAPI schema (schemathesis).

Valid and invalid requests are generated from each live /openapi.json: the answer is never a 5xx,
and its status code, content type and body are ones the schema documents.

Why not `@schema.parametrize()`: the schemas exist only once the services run, and schemathesis'
lazy pytest loader (`schemathesis.pytest.from_fixture`) fails on pytest 9.2 (it reads
`request.node._nodeid`, which pytest 9 removed). Its Python API (an operation's Hypothesis
strategy, `case.call_and_validate`) is all this needs.
"""
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

import labs

SERVICES = ["users", "concerts", "payments", "notifications", "orders"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30  # per operation and mode: 40 operations x 2 modes x <= 30 calls, ~30 s here
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,  # no .hypothesis/ dir
                         suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", progress=False)  # all five: orders calls the other four


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:  # kept alive across calls, like any real client
        yield s


def _fuzz(operation, mode: GenerationMode, session: requests.Session, base: str) -> None:
    # The fault-rule routes are fuzzed like the rest (they must be valid OpenAPI and answer as
    # documented), but a rule a case manages to add is removed at once: an injected 5xx on a later
    # call would be the fault working, not a bug. (Rules can never match /admin/* or /health.)
    adds_faults = operation.path.startswith("/admin/faults")

    @FUZZ_SETTINGS
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        try:
            case.call_and_validate(session=session, checks=CHECKS)
        finally:
            if adds_faults:
                session.delete(f"{base}/admin/faults").raise_for_status()

    run()


@pytest.mark.parametrize("service", SERVICES)
def test_no_5xx_and_answers_match_the_schema(lab, session, service):
    base = lab.endpoint(service)["http"]
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()  # raises if the schema itself is invalid
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            tried += 1
            try:
                _fuzz(operation, mode, session, base)
            except Unsatisfiable:  # no parameters, no body (GET /health): nothing to make invalid
                continue
            except Exception as exc:  # collect every operation's failure, not just the first
                failures.append(f"{operation.label} ({mode.value} data):\n{exc}")
    session.post(f"{base}/admin/reset")
    assert tried >= 4, f"{service}: too few operations in its schema"
    assert not failures, "\n\n".join(failures)
