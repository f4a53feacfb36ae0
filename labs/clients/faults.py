"""Make one endpoint of a running ticketing service fail or slow down, on purpose: `FaultRules`.

    from labs.clients.faults import FaultRules
    payments = FaultRules(lab, "payments")
    with payments.injected("POST /payments", error_rate=1.0, http_status=503) as rule:
        shop.place_order("u1", "c1")          # raises Unavailable: payments "failed"
    rule["matched"], rule["failed"]          # final counts, read as the rule was removed

A TCP proxy (labs.chaos) delays or cuts whole connections. It cannot make payments answer 503 to
20% of `POST /payments` while `GET /users/{user_id}` stays fine, or fail one gRPC method with
UNAVAILABLE. Each service can, through its fault rules (what a rule is:
labs.components.ticketing.fault_rules).

Layer: clients (talks to the services' /admin/faults API).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..components.ticketing.fault_rules import check_rule
from ..components.ticketing.remote import RestLink, _segment

CALLER = "notebook"


# ---- the lessons' client -----------------------------------------------------------------------------

class FaultRules:
    """The fault rules of one running service, through its REST admin API (/admin/faults)."""

    def __init__(self, lab: Any, service: str):
        self.service = service
        self._link = RestLink(CALLER, service, lab.endpoint(service)["http"])

    def add(self, match: str, error_rate: float = 0.0, http_status: int | None = None,
            grpc_code: str | None = None, added_latency_ms: float = 0.0, seed: int | None = None) -> str:
        """Add a rule; returns its id. ValueError (naming the allowed range) for a bad argument,
        `Invalid` when the service has no such route or method."""
        rule = check_rule(match, error_rate, http_status, grpc_code, added_latency_ms, seed)
        return self._link.call("POST", "/admin/faults", rule)["id"]

    def remove(self, rule_id: str) -> dict[str, Any]:
        """Remove one rule; returns it with its final counts. `NotFound` for an unknown id."""
        return self._link.call("DELETE", f"/admin/faults/{_segment(rule_id)}")

    def clear(self) -> int:
        """Remove every rule of this service; returns how many there were."""
        return self._link.call("DELETE", "/admin/faults")["removed"]

    def list(self) -> list[dict[str, Any]]:
        """The rules, in the order they are applied, each with `matched` and `failed` counts."""
        return self._link.call("GET", "/admin/faults")

    @contextlib.contextmanager
    def injected(self, match: str, **rule: Any) -> Iterator[dict[str, Any]]:
        """A rule for the duration of a `with` block, removed on exit (also on an exception). The
        dict it yields gets the rule's final `matched` and `failed` counts when the block ends."""
        rule_id = self.add(match, **rule)
        state: dict[str, Any] = {"id": rule_id, "match": match}
        try:
            yield state
        finally:
            state.update(self.remove(rule_id))

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> "FaultRules":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FaultRules of {self.service}>"
