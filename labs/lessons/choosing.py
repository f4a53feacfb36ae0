"""Lesson 13's decision chart: five questions, six answers, walked one question at a time.

    from labs.lessons import choosing
    walk = choosing.Walk()
    walk.question.text                 # "Does the caller need the answer before it can go on?"
    walk.answer("yes"); walk.answer("no")
    walk.outcome.title                 # "REST over HTTP" (the caller is outside your system)
    walk.back(); walk.restart()
    walk.mermaid()                     # the whole chart, the path taken drawn in orange
    choosing.every_path()              # [(("Q1", True), ("Q2", False)), ...] -> each outcome once

The chart follows the essay the course is built on: one question about immediacy splits
synchronous from asynchronous; two questions choose among the synchronous styles, two among the
asynchronous ones. `Walk` is the chart's logic with no widgets (what the tests drive); the widget is
labs.lessons.choosing_widget, the texts each answer shows are in labs.lessons.choosing_content.

Layer: lessons (pure Python; nothing here talks to a component).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

START = "Start"
SYNC, ASYNC = "Sync", "Async"
YES, NO = "yes", "no"
ANSWERS = {YES: True, NO: False, "y": True, "n": False, True: True, False: False}


@dataclass(frozen=True)
class Question:
    id: str
    text: str          # the question as the learner reads it
    short: str         # as it appears in the diagram's box
    hint: str          # what "yes" means here, with an example from the ticketing system


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str = ""    # "Yes" / "No" for a question's branches, "" for an unconditional step


# The entry box. Its only branch is "yes": a call that needs no other service stays a method call.
ENTRY = "Do two services need to talk?"

QUESTIONS: dict[str, Question] = {q.id: q for q in (
    Question("Q1", "Does the caller need the answer before it can go on?",
             "Answer needed at once?",
             "Yes when a person or the next step is waiting for the result: is the balance enough, is the "
             "seat mine, did the payment go through. No when the work can happen a moment later: the "
             "confirmation e-mail, the settlement record."),
    Question("Q2", "Are both ends your own services, inside your system?",
             "Service to service, inside?",
             "Yes for orders calling payments. No when the caller is outside: the phone app, a browser, "
             "a partner's system."),
    Question("Q3", "Is this call's speed critical (thousands a second, big or streamed payloads)?",
             "Performance critical?",
             "Yes for a seat-availability check on every page view, or live seat counts streamed to "
             "the box office. No for an admin screen or a few calls a minute."),
    Question("Q4", "Must several services each handle the same event?",
             "Several services, same event?",
             "Yes for \"order completed\", which notifications, settlement and inventory all react to. "
             "No for \"send this e-mail\": one worker should do it, once."),
    Question("Q5", "Must the events be kept, to be read again later (replay, history)?",
             "Keep events for replay?",
             "Yes when a service added next month needs the past orders, or a fixed bug means "
             "re-processing last week. No when an event matters only to whoever is listening now."),
)}

# Intermediate boxes of the chart (not questions: the step after Q1's answer).
WAYPOINTS = {SYNC: "Synchronous", ASYNC: "Asynchronous"}

# The six answers (their texts, lessons and evidence: choosing_content.OUTCOMES). REST appears twice,
# reached two ways: from outside the system, and inside it without a need for speed.
OUTCOME_IDS = ("REST", "REST2", "gRPC", "MessageQueue", "EventBroker", "Kafka")
OUTCOME_LABELS = {"REST": "REST API", "REST2": "REST API", "gRPC": "gRPC",
                  "MessageQueue": "Message queue<br/>(RabbitMQ, SQS)",
                  "EventBroker": "Event broker<br/>(Redis pub/sub, SNS)", "Kafka": "Kafka (a log)"}

EDGES: tuple[Edge, ...] = (
    Edge(START, "Q1", "Yes"),
    Edge("Q1", SYNC, "Yes"),
    Edge("Q1", ASYNC, "No"),
    Edge(SYNC, "Q2"),
    Edge("Q2", "Q3", "Yes"),
    Edge("Q2", "REST", "No"),
    Edge("Q3", "gRPC", "Yes"),
    Edge("Q3", "REST2", "No"),
    Edge(ASYNC, "Q4"),
    Edge("Q4", "Q5", "Yes"),
    Edge("Q4", "MessageQueue", "No"),
    Edge("Q5", "Kafka", "Yes"),
    Edge("Q5", "EventBroker", "No"),
)


def branch(node: str, answer: bool | None = None) -> str:
    """Where the chart goes from `node`: on a question, the branch for `answer`; elsewhere its one step."""
    label = "" if answer is None else ("Yes" if answer else "No")
    for edge in EDGES:
        if edge.source == node and edge.label == label:
            return edge.target
    raise KeyError(f"no branch {label or '(unconditional)'} from {node}")


def _settle(node: str) -> tuple[str, list[str]]:
    """Follow unconditional steps (the entry's yes, Sync, Async) to the next question or outcome."""
    passed = []
    while node == START or node in WAYPOINTS:
        passed.append(node)
        node = branch(node, True) if node == START else branch(node)
    return node, passed


def parse_answer(value: Any) -> bool:
    """True for "yes"/"y"/True, False for "no"/"n"/False; ValueError naming those for anything else."""
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, (str, bool)) and key in ANSWERS:
        return ANSWERS[key]
    raise ValueError(f"answer \"yes\" or \"no\" (or True / False); got {value!r}")


class WalkEnded(ValueError):
    """An answer given after the walk reached an outcome."""


class Walk:
    """One learner's way through the chart: the question now, the answers so far, the outcome."""

    def __init__(self) -> None:
        self.answers: list[tuple[str, bool]] = []

    # ---- where the walk is

    @property
    def node(self) -> str:
        """The current question's id, or the outcome's once the walk has reached one."""
        node, _ = _settle(START)
        for question_id, answer in self.answers:
            node, _ = _settle(branch(question_id, answer))
        return node

    @property
    def question(self) -> Question | None:
        return QUESTIONS.get(self.node)

    @property
    def outcome(self) -> str | None:
        """The outcome's id ("REST", "REST2", "gRPC", "MessageQueue", "EventBroker", "Kafka") or None."""
        node = self.node
        return node if node in OUTCOME_IDS else None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def path(self) -> list[str]:
        """Every box the walk passed, from the entry to where it is now (waypoints included)."""
        node, boxes = _settle(START)
        for question_id, answer in self.answers:
            boxes.append(question_id)
            node, passed = _settle(branch(question_id, answer))
            boxes += passed
        return boxes + [node]

    def edges_taken(self) -> list[Edge]:
        boxes = self.path()
        taken = []
        for source, target in zip(boxes, boxes[1:]):
            taken.append(next(e for e in EDGES if e.source == source and e.target == target))
        return taken

    # ---- moving

    def answer(self, value: Any) -> str:
        """Answer the current question ("yes" / "no"); returns where the walk is now."""
        answer = parse_answer(value)
        if self.finished:
            raise WalkEnded(f"the walk already ended at {self.outcome}: use back() to change the last answer "
                            f"or restart() to begin again")
        self.answers.append((self.node, answer))
        return self.node

    def back(self) -> str:
        """Undo the last answer; ValueError when there is none."""
        if not self.answers:
            raise ValueError("nothing to go back to: this is the first question")
        self.answers.pop()
        return self.node

    def restart(self) -> str:
        self.answers.clear()
        return self.node

    def follow(self, answers: Iterable[Any]) -> "Walk":
        """Give several answers in turn (each checked): Walk().follow(["yes", "no"])."""
        for value in answers:
            self.answer(value)
        return self

    # ---- drawing

    def mermaid(self) -> str:
        return mermaid(self)

    def __repr__(self) -> str:
        said = ", ".join(f"{q}: {'yes' if a else 'no'}" for q, a in self.answers) or "no answers yet"
        return f"<Walk at {self.node} ({said})>"


def every_path() -> list[tuple[tuple[str, bool], ...]]:
    """Every way through the chart, as the (question, answer) pairs given: one per outcome."""
    found: list[tuple[tuple[str, bool], ...]] = []

    def explore(walk: Walk) -> None:
        if walk.finished:
            found.append(tuple(walk.answers))
            return
        for answer in (True, False):
            walk.answer(answer)
            explore(walk)
            walk.back()

    explore(Walk())
    return found


# ---- the diagram ----------------------------------------------------------------------------------

TAKEN_STYLE = "fill:#ffe2b8,stroke:#d9730d,stroke-width:3px,color:#222"
HERE_STYLE = "fill:#ffb45e,stroke:#b34d00,stroke-width:4px,color:#000"
EDGE_STYLE = "stroke:#d9730d,stroke-width:4px"


def _box(node: str) -> str:
    text = ENTRY if node == START else QUESTIONS[node].short if node in QUESTIONS else \
        WAYPOINTS.get(node) or OUTCOME_LABELS[node]
    text = re.sub(r'["#;]', lambda m: {'"': "#quot;", "#": "#35;", ";": "#59;"}[m.group()], text)
    shape = ('{"', '"}') if node in QUESTIONS or node == START else \
        ('(["', '"])') if node in OUTCOME_IDS else ('["', '"]')
    return f"{node}{shape[0]}{text}{shape[1]}"


def mermaid(walk: Walk | None = None) -> str:
    """The chart as a mermaid flowchart; with a walk, its boxes and arrows highlighted and the box it
    stands on (the question to answer, or the outcome) drawn strongest."""
    lines = ["flowchart TD"]
    declared: set[str] = set()
    for edge in EDGES:
        source = edge.source if edge.source in declared else _box(edge.source)
        target = edge.target if edge.target in declared else _box(edge.target)
        declared |= {edge.source, edge.target}
        arrow = f"-->|{edge.label}|" if edge.label else "-->"
        lines.append(f"    {source} {arrow} {target}")
    if walk is not None:
        boxes = walk.path()
        lines.append(f"    classDef taken {TAKEN_STYLE}")
        lines.append(f"    classDef here {HERE_STYLE}")
        if boxes[:-1]:
            lines.append(f"    class {','.join(boxes[:-1])} taken")
        lines.append(f"    class {boxes[-1]} here")
        indexes = [str(EDGES.index(edge)) for edge in walk.edges_taken()]
        if indexes:
            lines.append(f"    linkStyle {','.join(indexes)} {EDGE_STYLE}")
    return "\n".join(lines)


class Diagram:
    """A mermaid source that JupyterLab (>= 4.1) draws when displayed."""

    def __init__(self, source: str):
        self.mermaid = source

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.mermaid}\n```"

    def __repr__(self) -> str:
        return self.mermaid
