"""Lesson 01's measurements beside the clock: what one order costs the machines, in CPU and bytes.

    from labs.lessons import network_call
    network_call.cost_per_order(lab, lambda: rest.place_order("u1", "c1"), n=50)
    # {"cpu_ms": 9.1, "payload_bytes": 1460, "calls": 6}

Times depend on the machine and on how busy it is; CPU time and bytes much less, and they carry
over from one stack to another better than a ratio of latencies does.

Layer: lessons (the tools' trace and the ticketing services; CPU of the services read with psutil).
"""
from __future__ import annotations

import time
from typing import Any, Callable

from ..runtime import args
from ..tools import trace
from .fallacies import service_cpu_seconds


def cost_per_order(lab: Any, place: Callable[[], object], n: int = 50) -> dict[str, float]:
    """CPU milliseconds per order in every process involved (this kernel and the five services),
    over `n` orders, and the payload bytes (bodies or protobuf messages, headers not counted) of
    every call one order makes, from a trace of one order."""
    args.whole("n", n, 1, 100_000)
    place()  # connections open, code warm: count the steady state
    with trace.record("one order, weighed") as one:
        place()
    spans = one.spans
    services, mine = service_cpu_seconds(lab), time.process_time()
    for _ in range(n):
        place()
    cpu = time.process_time() - mine + service_cpu_seconds(lab) - services
    payload = sum(int(s.get("request_bytes") or 0) + int(s.get("response_bytes") or 0) for s in spans)
    return {"cpu_ms": round(cpu * 1000 / n, 2), "payload_bytes": payload, "calls": len(spans)}


def nesting(run: Any, slack_ms: float = 1.0) -> dict[str, Any]:
    """How the calls of one traced order are laid out: calls made by each caller, whether each
    caller's calls ran one after another (none overlapping the next), and whether every call lies
    inside the call that caused it (within `slack_ms`: each process reads its own clock)."""
    spans = sorted(run.spans, key=lambda s: s["start_ns"])
    by_id = {s.get("span_id"): s for s in spans}
    slack = slack_ms * 1e6
    per_caller: dict[str, int] = {}
    overlapping = outside = 0
    last_end: dict[str, int] = {}
    for span in spans:
        caller = str(span.get("caller"))
        per_caller[caller] = per_caller.get(caller, 0) + 1
        if span["start_ns"] < last_end.get(caller, 0):
            overlapping += 1
        last_end[caller] = span["end_ns"]
        parent = by_id.get(span.get("parent_id"))
        if parent is not None and not (parent["start_ns"] - slack <= span["start_ns"]
                                       and span["end_ns"] <= parent["end_ns"] + slack):
            outside += 1
    return {"calls by caller": per_caller, "overlapping": overlapping, "outside their parent": outside}
