"""Lesson 13: the capstone. The learner's design for every ticketing flow, run under the seeded faults.

The flows with one defensible answer are checked on what the run measured (notification and
settlement off the order's synchronous path, seat changes on a log that a rebuilt service can
replay, the order's own questions answered synchronously); for the others the learner's reason is
printed beside the measured consequence.

Layer: exercises.
"""
from __future__ import annotations

from ..lessons import capstone
from ..tools.check import NotYet, register_exercise


@register_exercise("13.1", "choose the communication for each flow, then run it under faults", answer="design",
                   needs=capstone.NEEDS)
def check_design(design, lab) -> str:
    try:
        parsed = capstone.Design.parse(design)
    except ValueError as exc:
        raise NotYet(str(exc)) from None
    impossible = capstone.unwirable(parsed)
    if impossible:
        raise NotYet(" ".join(impossible.values()))
    report = capstone.run(lab, parsed, label="your design", progress=False)
    problems, consequences = capstone.grade(report)
    if problems:
        raise NotYet(f"measured on your design ({report.succeeded} of {report.attempted} orders succeeded, "
                     f"{report.lost} messages lost): " + " | ".join(problems))
    ok_down, n_down = report.during_outage
    return (f"{report.succeeded} of {report.attempted} orders succeeded ({ok_down} of {n_down} while notifications "
            f"was down), p50 {report.p50_ms:.0f} ms, p99 {report.p99_ms:.0f} ms, {report.lost} messages lost, "
            f"{len(report.protocols)} protocols inside. Not graded, your reasons and what they did:\n  "
            + "\n  ".join(consequences))
