"""Lesson 13's capstone: choose how each ticketing flow communicates; the lab runs that design and measures it.

    import labs
    from labs.lessons import capstone
    lab = labs.start("gateway", "rabbitmq", "kafka", "chaos")
    capstone.flows()                               # the flows, what each may use, which are graded
    capstone.one_order(lab, capstone.ALL_SYNCHRONOUS).diagram()   # one order, drawn from its trace
    report = capstone.run(lab, design)             # ~10-15 s under the seeded fault schedule
    report; report.plot(); report.hop_table()      # the figures, every order, the hops from the trace
    capstone.grade(report)                         # (problems, consequences): what the check says
    capstone.reasons(report)                       # your reason beside what it measurably did
    capstone.compare({"all synchronous": a, "your design": b})

The pieces: capstone_design (flows, styles, the learner's choices), capstone_wiring (the order flow
built that way on the real components), capstone_run (the fault schedule, the run, the phone's
screen), capstone_report (the figures, from the orders and the trace). This module grades: the flows
with one defensible answer are checked on what the run measured; for the others the learner's
reason is shown beside the measured consequence, not graded.

Layer: lessons.
"""
from __future__ import annotations

import math

from .capstone_design import (ALL_SYNCHRONOUS, ASYNC_STYLES, FLOWS, GRADED, KAFKA, QUEUE, STYLES, SYNC_STYLES,
                              Design, missing_reasons, unwirable)
from .capstone_report import Report, compare, plot_side_by_side
from .capstone_run import NEEDS, PHONE_RTT_MS, SCHEDULE, check_wirable, last, one_order, run, screen

__all__ = ["ALL_SYNCHRONOUS", "FLOWS", "NEEDS", "SCHEDULE", "STYLES", "Design", "Report", "check_wirable", "compare", "flows", "grade",
           "last", "one_order", "plot_side_by_side", "reasons", "run", "screen", "unwirable"]

SUBSCRIBERS = ("search", "recommendations", "analytics")


def flows():
    """The flows as a table: what talks to what, the styles the lab can wire, which are graded."""
    import pandas as pd
    return pd.DataFrame([{"flow": f.name, "what": f.text, "styles": ", ".join(f.styles),
                          "gateway?": "may" if f.gateway else "no",
                          "graded": "yes: " + f.rule if f.defensible else "no: " + f.rule}
                         for f in FLOWS.values()]).set_index("flow")


def _hop(report: Report, callee: str):
    return next((h for h in report.hops if h.callee == callee), None)


def _notify(report: Report) -> str | None:
    ok_down, n_down = report.during_outage
    ok_up, n_up = report.outside_outage
    hop = _hop(report, "notifications")
    lost = report.deliveries["notifications"]["lost"]
    if hop is not None:
        return (f"notify sits on the order's synchronous path: the trace shows orders waiting on notifications "
                f"in {hop.calls} orders. While notifications was down {ok_down} of {n_down} orders succeeded "
                f"(outside the outage {ok_up} of {n_up}), and {report.charged_without_order} customers were "
                f"charged for an order that then failed. Hand the confirmation off ({', '.join(ASYNC_STYLES)})")
    if n_down and ok_down / n_down < (ok_up / n_up if n_up else 1) - 0.1:
        return f"while notifications was down only {ok_down} of {n_down} orders succeeded"
    if lost:
        return (f"{lost} confirmations never reached notifications (of {report.succeeded}): the hand-off must "
                f"keep them until notifications is back")
    return None


def _settlement(report: Report) -> str | None:
    hop = _hop(report, "settlement")
    lost = report.deliveries["settlement"]["lost"]
    if hop is not None:
        return (f"record_settlement is on the synchronous path: every order waited {hop.median_ms:.0f} ms (median) "
                f"for the accounts (order p50 {report.p50_ms:.0f} ms). Accounting can be a moment late: hand it off")
    if lost:
        return f"{lost} of {report.succeeded} settlement records never arrived"
    return None


def _seat_changes(report: Report) -> str | None:
    style = report.design["seat_changes"].style
    got = {name: report.deliveries[name] for name in SUBSCRIBERS}
    if all(d["lost"] == 0 for d in got.values()) and style == KAFKA:
        return None
    counts = ", ".join(f"{name} {d['expected'] - d['lost']}" for name, d in got.items())
    total = got["analytics"]["expected"]
    if style in SYNC_STYLES:
        why = ("each order made three more synchronous calls, and a call delivers once: analytics, rebuilt "
               "halfway, had nothing to read again")
    elif style == QUEUE:
        why = "a queue gives each message to one consumer: the three services shared the changes instead of each getting all"
    else:
        why = "the broker forgot what it had delivered: analytics, rebuilt halfway, could not get the earlier changes back"
    with_style = style if style in SYNC_STYLES else f"{'an' if style[0] in 'aeiou' else 'a'} {style}"
    return f"seat changes reached (of {total}): {counts}. With {with_style}, {why}; keep them in a log everyone reads"


def grade(report: Report) -> tuple[list[str], list[str]]:
    """(problems, consequences). Problems: the graded flows the run shows were chosen wrongly, and
    reasons not written; consequences: for every flow, your reason beside what the run measured."""
    design = report.design
    problems = [p for p in (_notify(report), _settlement(report), _seat_changes(report)) if p]
    unwritten = missing_reasons(design)
    if unwritten:
        problems.append(f"write a reason (a few words) for: {', '.join(unwritten)}")
    return problems, [f"{row['flow']} = {row['your choice']}: \"{row['your reason']}\" → {row['measured']}"
                      for row in _reason_rows(report)]


def _measured(report: Report, flow: str) -> str:
    if flow == "order_screen":
        return (f"{report.screen['requests']} request(s) from the phone, {report.screen['ms']:.0f} ms "
                f"with a {PHONE_RTT_MS} ms phone network")
    targets = FLOWS[flow].targets
    hops = [h for h in report.hops if h.callee in targets]
    if hops:
        ms = sum(h.median_ms for h in hops if not math.isnan(h.median_ms))
        available = min(h.availability for h in hops)
        return (f"the order waited {ms:.1f} ms for it (median, from the trace); "
                f"it answered {available:.0%} of the calls")
    if flow in ("notify", "record_settlement", "seat_changes"):
        got = [report.deliveries[t] for t in targets]
        delivered = sum(d["expected"] - d["lost"] for d in got)
        return (f"off the order's path; {delivered} of {sum(d['expected'] for d in got)} delivered, "
                f"{sum(d['duplicated'] for d in got)} duplicated")
    return "not on the trace"


def _reason_rows(report: Report) -> list[dict[str, str]]:
    return [{"flow": name, "graded": "yes" if name in GRADED else "no",
             "your choice": choice.label(), "your reason": choice.reason or "(none yet)",
             "measured": _measured(report, name)}
            for name, choice in report.design.choices.items()]


def reasons(report: Report):
    """Your reason for each flow beside what the run measured (a pandas DataFrame)."""
    import pandas as pd
    return pd.DataFrame(_reason_rows(report)).set_index("flow")
