"""Lesson 13's capstone, the design: the ticketing flows, the styles each may use, and the learner's choice.

    from labs.lessons import capstone_design as cd
    cd.FLOWS["notify"].text                    # "orders -> notifications: tell the customer ..."
    design = cd.Design.parse({
        "check_balance": ("gRPC", "the charge waits for it; internal and called on every order"),
        "order_screen": {"style": "REST", "gateway": True, "reason": "a phone: one request via the BFF"},
        ...})                                  # ValueError naming the allowed values for anything malformed
    design.sync_flows()                        # the flows the order waits for
    cd.ALL_SYNCHRONOUS                         # the stub: every flow a REST call, nothing behind a gateway
    cd.unwirable(design)                       # flows whose answer cannot come from the chosen style

Layer: lessons (pure data and checks; the wiring is capstone_wiring, the run capstone_run).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

REST, GRPC, QUEUE, EVENTS, KAFKA = "REST", "gRPC", "queue", "event broker", "Kafka"
STYLES = (REST, GRPC, QUEUE, EVENTS, KAFKA)
SYNC_STYLES = (REST, GRPC)
ASYNC_STYLES = (QUEUE, EVENTS, KAFKA)
MIN_REASON_WORDS = 3


@dataclass(frozen=True)
class Flow:
    name: str
    text: str                         # who talks to whom, and what for
    targets: tuple[str, ...]          # the services at the receiving end
    styles: tuple[str, ...]           # what the lab can wire for it
    needs_answer: bool = False        # the order cannot go on without the reply
    gateway: bool = False             # may sit behind the API gateway (an outside client's flow)
    defensible: tuple[str, ...] | None = None   # the styles with one defensible answer; None: judgement
    rule: str = ""                    # why, in one sentence (what the check measures)


FLOWS: dict[str, Flow] = {f.name: f for f in (
    Flow("check_balance", "orders -> users: does the customer's balance cover the ticket?", ("users",),
         SYNC_STYLES + ASYNC_STYLES, needs_answer=True, defensible=SYNC_STYLES,
         rule="the charge must not start before the answer: a synchronous call"),
    Flow("reserve_seat", "orders -> concerts: hold one seat for this customer", ("concerts",),
         SYNC_STYLES + ASYNC_STYLES, needs_answer=True, defensible=SYNC_STYLES,
         rule="the customer must know the seat is theirs before paying: a synchronous call"),
    Flow("charge", "orders -> payments: take the money", ("payments",),
         SYNC_STYLES + ASYNC_STYLES, needs_answer=True, defensible=SYNC_STYLES,
         rule="the payment's result is shown to the customer at once: a synchronous call"),
    Flow("notify", "orders -> notifications: tell the customer the ticket is confirmed", ("notifications",),
         STYLES, defensible=ASYNC_STYLES,
         rule="a late confirmation does not hurt the order: orders must keep succeeding with notifications down"),
    Flow("record_settlement", "orders -> settlement: record the money for the accounts", ("settlement",),
         (REST,) + ASYNC_STYLES, defensible=ASYNC_STYLES,
         rule="accounting need not be real time: it must not slow every order down"),
    Flow("seat_changes", "orders -> search, recommendations, analytics: a seat was sold (analytics is rebuilt "
         "halfway through and needs every change since the start)", ("search", "recommendations", "analytics"),
         (REST,) + ASYNC_STYLES, defensible=(KAFKA,),
         rule="several services, and one needs the history again: a log"),
    Flow("order_screen", "the phone app -> its order screen (the order, the customer, the notifications)",
         ("orders", "users", "notifications"), SYNC_STYLES, gateway=True,
         rule="a judgement call: one request through the gateway's BFF, or three straight to the services"),
)}
GRADED = tuple(name for name, flow in FLOWS.items() if flow.defensible is not None)


@dataclass(frozen=True)
class Choice:
    style: str
    reason: str = ""
    gateway: bool = False

    @property
    def synchronous(self) -> bool:
        return self.style in SYNC_STYLES

    def label(self) -> str:
        return self.style + (" behind the gateway" if self.gateway else "")


def _choice(flow: Flow, value: Any) -> Choice:
    where = f"design[{flow.name!r}]"
    if isinstance(value, str):
        value = {"style": value}
    elif isinstance(value, (tuple, list)):
        if not 1 <= len(value) <= 2:
            raise ValueError(f"{where} must be (style, reason) or a dict with style, reason and gateway; got {value!r}")
        value = dict(zip(("style", "reason"), value))
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be (style, reason) or a dict like {{'style': 'REST', 'reason': '...'}}; "
                         f"got {value!r}")
    unknown = set(value) - {"style", "reason", "gateway"}
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"allowed: style, reason, gateway")
    style = value.get("style")
    if style not in STYLES:
        raise ValueError(f"{where}: style must be one of {', '.join(STYLES)}; got {style!r}")
    if style not in flow.styles:
        raise ValueError(f"{where}: the lab can wire {flow.name} as {', '.join(flow.styles)}; got {style!r}"
                         + (" (the back office speaks REST only)" if flow.targets[0] in
                            ("settlement", "search") and style == GRPC else ""))
    reason = value.get("reason", "")
    if not isinstance(reason, str):
        raise ValueError(f"{where}: reason must be text (why you chose it); got {reason!r}")
    gateway = value.get("gateway", False)
    if not isinstance(gateway, bool):
        raise ValueError(f"{where}: gateway must be True or False; got {gateway!r}")
    if gateway and not flow.gateway:
        raise ValueError(f"{where}: only the phone's flow (order_screen) can go through the API gateway; "
                         f"calls between your own services do not pass the edge (lesson 08)")
    if gateway and style != REST:
        raise ValueError(f"{where}: the lab's gateway gives the phone REST (its BFF screen); "
                         f"choose style 'REST' with gateway=True, or 'gRPC' with gateway=False")
    return Choice(style, reason.strip(), gateway)


@dataclass(frozen=True)
class Design:
    choices: dict[str, Choice] = field(default_factory=dict)

    @classmethod
    def parse(cls, design: Any) -> "Design":
        """A checked design from {flow: (style, reason) | style | {style, reason, gateway}}; ValueError
        naming the allowed flows, styles and keys for anything else."""
        if isinstance(design, Design):
            return design
        if not isinstance(design, Mapping):
            raise ValueError(f"a design is a dict with one entry per flow ({', '.join(FLOWS)}); "
                             f"got {type(design).__name__}")
        unknown = [name for name in design if name not in FLOWS]
        if unknown:
            raise ValueError(f"unknown flow(s) {', '.join(map(repr, unknown))}; the flows are {', '.join(FLOWS)}")
        missing = [name for name in FLOWS if name not in design]
        if missing:
            raise ValueError(f"the design has no choice for {', '.join(missing)}: give every flow a style "
                             f"({', '.join(STYLES)})")
        return cls({name: _choice(FLOWS[name], design[name]) for name in FLOWS})

    def __getitem__(self, flow: str) -> Choice:
        return self.choices[flow]

    def sync_flows(self) -> list[str]:
        return [name for name, choice in self.choices.items() if choice.synchronous and name != "order_screen"]

    def styles(self) -> set[str]:
        return {choice.style for choice in self.choices.values()}

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: {"style": c.style, "gateway": c.gateway, "reason": c.reason} for name, c in self.choices.items()}

    def __repr__(self) -> str:
        return "Design(" + ", ".join(f"{n}={c.label()}" for n, c in self.choices.items()) + ")"


def unwirable(design: Design) -> dict[str, str]:
    """Flows that need an answer but were given a style that has none: flow -> why, in words."""
    found = {}
    for name, choice in design.choices.items():
        flow = FLOWS[name]
        if flow.needs_answer and not choice.synchronous:
            found[name] = (f"{name} ({flow.text}) needs its answer before the order can go on, and a "
                           f"{choice.style} delivers later, to whoever consumes: nothing answers the order. "
                           f"Request/reply over a queue (lesson 09) would be a synchronous call with extra "
                           f"hops: choose REST or gRPC")
    return found


def missing_reasons(design: Design) -> list[str]:
    return [name for name, choice in design.choices.items() if len(choice.reason.split()) < MIN_REASON_WORDS]


# The stub: every flow a plain REST call, the phone straight to the services (lessons 01-04's world).
ALL_SYNCHRONOUS: dict[str, tuple[str, str]] = {name: (REST, "") for name in FLOWS}
