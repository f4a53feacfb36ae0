"""Lesson 12: add the compensation that a saga needs once a step after the charge can fail.

Layer: exercises.
"""
from __future__ import annotations

from ..components.sagas import flows
from ..lessons import saga_checker
from ..tools.check import NotYet, register_exercise

SEED, SAGAS = 12, 80  # 80 sagas hold ~8 bouncing addresses and every kind of fault: enough to judge


@register_exercise("12.1", "add a compensation step", answer="order_saga", needs=("rabbitmq",))
def check_compensation(order_saga, lab) -> str:
    try:
        steps = flows.steps_of(order_saga)
    except (ValueError, TypeError) as exc:
        raise NotYet(f"order_saga must be a list of Step(...): {exc}") from None
    actions = [step.action for step in steps]
    if actions != ["reserve", "charge", "deliver"]:
        raise NotYet(f"keep the three steps in their order (reserve, charge, deliver), got {actions}: "
                     "the exercise is about what undoes them, not about their order")
    schedule = saga_checker.make_schedule(SEED, SAGAS, bounces=True)
    report = saga_checker.run(lab, "orchestration", schedule, saga=steps)
    bounced = [o for o, kind in schedule.kinds().items() if kind == "address bounces"]
    if report.violations:
        on_bounced = [v for v in report.violations if v.order_id in bounced]
        example = (on_bounced or report.violations)[0]
        hint = ""
        if on_bounced and not steps[1].compensation:
            hint = (" Those are orders whose ticket bounced: the orchestrator undid what it knew how to undo"
                    " (the seat), but the charge has no compensation, so the money stayed taken.")
        raise NotYet(f"{len(report.violations)} violation(s) over {SAGAS} sagas ({report.counts()}), e.g. "
                     f"{example.order_id or 'the totals'}: {example.kind}, {example.detail}.{hint}")
    unfinished = report.outcomes.get("unfinished", 0)
    if unfinished:
        raise NotYet(f"{unfinished} saga(s) never ended")
    refunded = sum(report.statuses[o] == flows.REJECTED for o in bounced)
    return (f"{SAGAS} sagas under seed {SEED}'s faults, 0 violations: each of the {refunded} orders whose "
            f"ticket bounced was refunded and its seat released, last step undone first.")
