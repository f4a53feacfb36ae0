"""Lesson 13's capstone, the figures: what one run of a design measured, read from its orders and its trace.

    report = capstone_run.run(lab, design)
    report.succeeded, report.attempted, report.p50_ms, report.p99_ms
    report.hops            # the order's synchronous hops found in the trace, each with its availability
    report.product         # their availabilities multiplied: what the chain predicts
    report.availability    # what the orders measured
    report.deliveries      # destination -> expected, received, lost, duplicated
    report.protocols       # the distinct protocols spoken inside the system
    report.plot()          # every order: when it started, how long it took, failed ones in red
    compare({"all synchronous": a, "your design": b})   # the figures side by side (a DataFrame)

Layer: lessons (reads spans with labs.tools.trace's rules; matplotlib and pandas imported on use).
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .. import tracing
from ..tools import trace
from .capstone_design import Design

CALLER = "orders"
PROTOCOLS = {"http": "REST (HTTP/JSON)", "grpc": "gRPC", "amqp": "AMQP (RabbitMQ)", "kafka": "Kafka",
             "redis": "Redis"}
COMPENSATIONS = ("DELETE /concerts", "/ticketing.v1.Concerts/Release")
DESTINATIONS = {"notifications": "notify", "settlement": "record_settlement", "search": "seat_changes",
                "recommendations": "seat_changes", "analytics": "seat_changes"}


@dataclass
class Hop:
    """One kind of call the order makes and waits for, as the trace saw it."""
    callee: str
    operation: str
    transport: str
    calls: int = 0
    ok: int = 0
    ms: list[float] = field(default_factory=list)

    @property
    def availability(self) -> float:
        return self.ok / self.calls if self.calls else 1.0

    @property
    def median_ms(self) -> float:
        """The call's median duration; NaN for a publish (its span marks the moment it was sent)."""
        return math.nan if self.transport in tracing.MESSAGE_TRANSPORTS else _percentile(self.ms, 50)

    @property
    def name(self) -> str:
        return f"{CALLER} → {self.callee}: {self.operation}"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)  # nearest rank: p99 of 100 is the 99th
    return ordered[rank]


def _operation(span: dict) -> str:
    # A run's queues and topics carry its id (capstone.1a2b3c4d.notify): one name for every run.
    operation = re.sub(r"capstone[.-][0-9a-f]{8}[.-]", "", str(span.get("operation")))
    if span.get("transport") == "http":  # one hop per route, whatever the ids in the path
        method, _, path = operation.partition(" ")
        parts = path.split("/")
        operation = f"{method} " + "/".join(p if i % 2 or not p else "…" for i, p in enumerate(parts))
    return operation


@dataclass
class Report:
    label: str
    design: Design
    seed: int
    schedule: dict
    results: list[dict]
    marks: dict[str, float]
    duration: float
    delivered: dict[str, list[str]]
    spans: list[dict]
    screen: dict[str, Any]
    seconds: float

    # ---- the orders

    @property
    def attempted(self) -> int:
        return len(self.results)

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.results if r["ok"])

    @property
    def availability(self) -> float:
        return self.succeeded / self.attempted if self.attempted else math.nan

    @property
    def p50_ms(self) -> float:
        return _percentile([r["ms"] for r in self.results], 50)

    @property
    def p99_ms(self) -> float:
        return _percentile([r["ms"] for r in self.results], 99)

    def _window(self, inside: bool) -> list[dict]:
        down, up = self.marks.get("down", math.inf), self.marks.get("up", math.inf)
        return [r for r in self.results if (down <= r["start"] < up) == inside]

    @property
    def during_outage(self) -> tuple[int, int]:
        """(succeeded, attempted) among the orders started while notifications was down."""
        window = self._window(True)
        return sum(r["ok"] for r in window), len(window)

    @property
    def outside_outage(self) -> tuple[int, int]:
        window = self._window(False)
        return sum(r["ok"] for r in window), len(window)

    @property
    def charged_without_order(self) -> int:
        """Customers charged for an order that then failed (a synchronous hop after the payment broke)."""
        return sum(1 for r in self.results if r["charged"] and not r["ok"])

    @property
    def failed_at(self) -> Counter:
        return Counter(r["failed_at"] for r in self.results if not r["ok"])

    # ---- the trace

    @property
    def hops(self) -> list[Hop]:
        """The order's synchronous hops: every call and publish `orders` made and waited for (the
        compensating seat release, made only after a failure, left out)."""
        found: dict[tuple[str, str], Hop] = {}
        for span in self.spans:
            if span.get("caller") != CALLER:
                continue
            operation = _operation(span)
            if operation.startswith(COMPENSATIONS):
                continue
            key = (str(span.get("callee")), operation)
            hop = found.setdefault(key, Hop(key[0], operation, str(span.get("transport"))))
            hop.calls += 1
            hop.ok += not trace.failed(span)
            hop.ms.append((int(span.get("end_ns", 0)) - int(span.get("start_ns", 0))) / 1e6)
        return sorted(found.values(), key=lambda h: -h.calls)

    @property
    def product(self) -> float:
        """The hops' availabilities multiplied: how often an order should succeed if it needs every one."""
        return math.prod(h.availability for h in self.hops)

    @property
    def hidden_hops(self) -> list[str]:
        """Synchronous calls made *for* the order by the services it called (not by `orders` itself)."""
        by_id = {s.get("span_id"): s for s in self.spans}
        found = set()
        for span in self.spans:
            parent = by_id.get(span.get("parent_id"))
            if parent is not None and parent.get("caller") == CALLER and span.get("transport") in ("http", "grpc") \
                    and span.get("caller") != CALLER:
                found.add(f"{span.get('caller')} → {span.get('callee')}: {_operation(span)}")
        return sorted(found)

    @property
    def protocols(self) -> list[str]:
        """The distinct protocols spoken inside the system during the run (from every span of it)."""
        return sorted({PROTOCOLS.get(str(s.get("transport")), str(s.get("transport"))) for s in self.spans})

    # ---- the messages

    @property
    def deliveries(self) -> dict[str, dict[str, int]]:
        """Per destination: expected (one per order that succeeded), received (this run's ids, counting
        repeats), lost (expected, never received) and duplicated (received more than once)."""
        keys = {r["key"] for r in self.results}
        expected = {r["key"] for r in self.results if r["ok"]}
        table = {}
        for destination in DESTINATIONS:
            got = [i for i in self.delivered.get(destination, []) if i in keys]
            table[destination] = {"expected": len(expected), "received": len(got),
                                  "lost": len(expected - set(got)), "duplicated": len(got) - len(set(got))}
        return table

    @property
    def lost(self) -> int:
        return sum(d["lost"] for d in self.deliveries.values())

    @property
    def duplicated(self) -> int:
        return sum(d["duplicated"] for d in self.deliveries.values())

    # ---- showing it

    def figures(self) -> dict[str, Any]:
        ok_out, n_out = self.during_outage
        return {
            "orders succeeded": f"{self.succeeded} of {self.attempted}",
            "... while notifications was down": f"{ok_out} of {n_out}",
            "order latency p50 / p99": f"{self.p50_ms:.0f} / {self.p99_ms:.0f} ms",
            "availability: measured / product of hops": f"{self.availability:.1%} / {self.product:.1%}",
            "synchronous hops (from the trace)": len(self.hops),
            "charged, but the order failed": self.charged_without_order,
            "messages lost / duplicated": f"{self.lost} / {self.duplicated}",
            "protocols inside": f"{len(self.protocols)}: {', '.join(self.protocols)}",
            "the phone's order screen": f"{self.screen['requests']} request(s), {self.screen['ms']:.0f} ms "
                                        f"({self.screen['way']})",
        }

    def hop_table(self):
        import pandas as pd
        return pd.DataFrame([{"hop": h.name, "protocol": PROTOCOLS.get(h.transport, h.transport), "calls": h.calls,
                              "available": f"{h.availability:.1%}", "median ms": "-" if math.isnan(h.median_ms) else round(h.median_ms, 1)}
                             for h in self.hops])

    def plot(self, ax=None):
        """Every order: when it started and how long it took; failed ones as red crosses; the outage shaded."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        ok = [r for r in self.results if r["ok"]]
        failed = [r for r in self.results if not r["ok"]]
        if "down" in self.marks:
            ax.axvspan(self.marks["down"], self.marks.get("up", self.duration), color="#f4cccc",
                       label="notifications down")
        if "rebuild" in self.marks:
            ax.axvline(self.marks["rebuild"], color="#888", linestyle=":", label="analytics rebuilt")
        ax.scatter([r["start"] for r in ok], [r["ms"] for r in ok], s=12, color="#4c72b0", label="order placed")
        ax.scatter([r["start"] for r in failed], [r["ms"] for r in failed], s=30, marker="x", color="#c44e52",
                   label="order failed")
        ax.set_xlabel("seconds into the run")
        ax.set_ylabel("order latency, ms")
        ax.set_title(f"{self.label}: {self.succeeded} of {self.attempted} orders")
        ax.legend(loc="upper right", fontsize=8)
        return ax

    def __repr__(self) -> str:
        lines = [f"capstone run, {self.label} (seed {self.seed}, {self.seconds:.0f} s):"]
        lines += [f"  {name:<44} {value}" for name, value in self.figures().items()]
        return "\n".join(lines)


def compare(reports: dict[str, Report]):
    """The figures of several runs side by side, one column each (a pandas DataFrame)."""
    import pandas as pd
    return pd.DataFrame({label: report.figures() for label, report in reports.items()})


def plot_side_by_side(reports: dict[str, Report]):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(reports), figsize=(6 * len(reports), 3.2), sharey=True, squeeze=False)
    for ax, (label, report) in zip(axes[0], reports.items()):
        report.plot(ax)
        ax.set_title(f"{label}: {report.succeeded} of {report.attempted} orders")
    fig.tight_layout()
    return fig
