"""What each answer of lesson 13's chart says, the lessons behind it, and the learner's own figures.

    from labs.lessons import choosing_content as content
    content.OUTCOMES["Kafka"].title             # "Kafka: a log every group reads at its own pace"
    content.card("Kafka", labs.evidence())     # markdown: why, when not, lessons, your figures
    content.lesson_link("09")                  # "[09 · Message queues](../notebooks/09-message-queues.ipynb)"
    content.your_figures("MessageQueue", ev)   # the claims you proved in lessons 09 and 03

Layer: lessons (texts, and reading labs.tools.evidence; no components).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..tools.evidence import Entry, Evidence

NOTEBOOKS = "../notebooks"
LESSONS: dict[str, tuple[str, str]] = {   # number -> (file, title)
    "00": ("00-welcome.ipynb", "Welcome and lab check"),
    "01": ("01-method-call-to-network-call.ipynb", "From method call to network call"),
    "02": ("02-eight-fallacies.ipynb", "The eight fallacies, live"),
    "03": ("03-sync-vs-async.ipynb", "Sync vs async, and hidden coupling"),
    "04": ("04-rest.ipynb", "REST"),
    "05": ("05-grpc.ipynb", "gRPC"),
    "06": ("06-graphql-federation.ipynb", "GraphQL federation"),
    "07": ("07-service-discovery.ipynb", "Service discovery"),
    "08": ("08-api-gateway.ipynb", "API gateway"),
    "09": ("09-message-queues.ipynb", "Message queues"),
    "10": ("10-event-brokers.ipynb", "Event brokers"),
    "11": ("11-kafka-the-log.ipynb", "Kafka: the log"),
    "12": ("12-choreography-vs-orchestration.ipynb", "Choreography vs orchestration"),
    "13": ("13-choosing.ipynb", "Choosing"),
}
MAX_FIGURES = 4


def lesson_link(number: str) -> str:
    file, title = LESSONS[number]
    return f"[{number} · {title}]({NOTEBOOKS}/{file})"


@dataclass(frozen=True)
class Outcome:
    id: str
    title: str
    why: str                      # why the chart ends here
    when_not: tuple[str, ...]     # when to choose something else, and what
    lessons: tuple[str, ...]      # where it was shown, the main lesson first
    look_for: tuple[str, ...]     # words of the claims worth showing first (any lesson above)


OUTCOMES: dict[str, Outcome] = {o.id: o for o in (
    Outcome("REST", "REST over HTTP, for a caller outside your system",
            "The caller is a phone, a browser or a partner: it needs an answer, and it speaks HTTP. "
            "Every client, proxy, cache and debugging tool understands resources, verbs and status "
            "codes, and a gateway at the edge can check tokens and shape answers for each client.",
            ("A screen needs data from several services: one request per service is slow over a phone "
             "network; put a BFF or GraphQL in front (lessons 06, 08).",
             "A browser needs pushed updates: polling REST is wasteful; a stream or a socket fits.",
             "The answer can wait: hand the work off (lesson 03) instead of holding the request open."),
            ("04", "08", "06"), ("request", "bytes", "idempotency", "gateway", "429", "screen")),
    Outcome("REST2", "REST over HTTP, between your own services",
            "Both ends are yours and speed is not the bottleneck: REST is the simplest thing that works. "
            "Everyone on the team can read it with curl and the logs, and one convention for every "
            "service (the article's point) is worth more than the milliseconds another protocol saves.",
            ("Thousands of calls a second where CPU, bytes and latency count: gRPC (lesson 05).",
             "The contract changes often and both sides must agree exactly: a compiled .proto catches "
             "a mismatch before it ships (lesson 05).",
             "Every extra synchronous call multiplies the ways an order can fail (lesson 03): ask whether "
             "the caller really must wait."),
            ("04", "01", "03"), ("timeout", "retry", "breaker", "available", "REST")),
    Outcome("gRPC", "gRPC, between your own services, when speed counts",
            "Both ends are yours and the call is hot: a compiled contract, compact protobuf, many calls "
            "sharing one HTTP/2 connection, deadlines and streams built in. You measured it faster and "
            "smaller than JSON over HTTP on the same machine.",
            ("A browser or a third party calls it: they need gRPC-Web through a gateway (lesson 08) or "
             "plain REST.",
             "The team has no time to own .proto files, code generation and their versioning, or debugs "
             "an early product with curl.",
             "A handful of calls a minute: its speed buys nothing, and one more protocol costs the team."),
            ("05", "01", "02"), ("faster", "gRPC", "connection", "bytes", "deadline")),
    Outcome("MessageQueue", "A message queue (RabbitMQ, SQS)",
            "The work can happen later and one worker should do it once: leave a message and carry on. "
            "The queue keeps it while the worker is down, shares the load among workers, redelivers after "
            "a crash and sets aside what keeps failing.",
            ("The caller needs the answer now: request/reply over a queue is a slower direct call.",
             "Several services need the same message: a queue gives each message to one consumer "
             "(lesson 10).",
             "Someone will need to read the messages again: an acknowledged message is gone (lesson 11).",
             "The consumer cannot be made idempotent: at-least-once delivery does deliver twice."),
            ("09", "03"), ("lost", "restart", "redeliver", "two consumers", "dead-letter", "hand-off", "accepted")),
    Outcome("EventBroker", "An event broker (publish/subscribe: SNS, Redis pub/sub, a fanout exchange)",
            "Several services react to the same event, and none of them needs the past: publish once, "
            "every subscriber gets a copy, and subscribers come and go without the publisher changing.",
            ("A subscriber may be offline and must not miss events: plain Redis pub/sub loses them "
             "silently; give each service its own durable queue (a fanout exchange, SNS+SQS).",
             "A newcomer needs the history, or a fixed bug needs a re-run: only a log keeps it (lesson 11).",
             "Nobody can list who reacts to an event: write the list down, or the loose coupling becomes "
             "\"nobody knows the whole flow\"."),
            ("10", "12"), ("every subscriber", "lost", "kept", "offline", "publisher")),
    Outcome("Kafka", "A log (Kafka): events kept, read again at will",
            "Several services consume the same events and the past matters: the log keeps every record "
            "after it is read, each consumer group keeps its own position, and a new or repaired service "
            "replays from the beginning or from a point in time.",
            ("Plain fan-out that nobody replays: a fanout exchange or SNS+SQS is far lighter (lesson 10).",
             "Work distribution: a queue lets any number of workers share it; a log cannot use more "
             "workers than partitions (lesson 09).",
             "Nobody on the team can run a cluster: partitions, retention, rebalances and lag are real "
             "operational work."),
            ("11", "12"), ("replay", "rebuilt", "group", "partition", "idempotent", "offset")),
)}


# ---- the learner's figures ---------------------------------------------------------------------------

def _ranked(entries: Iterable[Entry], look_for: tuple[str, ...]) -> list[Entry]:
    def rank(entry: Entry) -> int:
        text = entry.claim.lower()
        return next((i for i, word in enumerate(look_for) if word.lower() in text), len(look_for))
    return sorted(entries, key=rank)  # stable: claims with no keyword keep the notebook's order


def your_figures(outcome_id: str, evidence: Evidence | None) -> dict[str, list[Entry]]:
    """Lesson -> the claims worth showing for this outcome (the last run of each), main lesson first;
    only lessons with at least one recorded claim."""
    outcome = OUTCOMES[outcome_id]
    latest = Evidence(evidence or []).latest()
    shown: dict[str, list[Entry]] = {}
    for number in outcome.lessons:
        entries = [e for e in latest if e.lesson == number]
        if entries:
            shown[number] = _ranked(entries, outcome.look_for)[:MAX_FIGURES]
    return shown


def card(outcome_id: str, evidence: Evidence | None = None) -> str:
    """The outcome as markdown: why, when not, the lessons (linked) and your own figures."""
    if outcome_id not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome_id!r}; one of {', '.join(OUTCOMES)}")
    outcome = OUTCOMES[outcome_id]
    lines = [f"### {outcome.title}", "", f"**Why:** {outcome.why}", "", "**When not to choose it:**", ""]
    lines += [f"* {reason}" for reason in outcome.when_not]
    main = outcome.lessons[0]
    lines += ["", f"**Shown in:** {lesson_link(main)}"
              + (f"; also {', '.join(lesson_link(n) for n in outcome.lessons[1:])}" if outcome.lessons[1:] else ""),
              "", "**Your own figures:**", ""]
    figures = your_figures(outcome_id, evidence)
    for number, entries in figures.items():
        when = max(e.when for e in entries)[:10]
        lines.append(f"* your run of lesson {number} ({when}):")
        lines += [f"    * ✔ {e.claim} (measured: {e.figure()})" for e in entries]
    if main not in figures:
        file = LESSONS[main][0]
        lines.append(f"* nothing recorded from lesson {main} yet: run [{file}]({NOTEBOOKS}/{file}) in "
                     f"JupyterLab and come back; every claim that passes there is kept as your evidence.")
    return "\n".join(lines)


# ---- the close of the course ------------------------------------------------------------------------

COURSE: dict[str, tuple[str, str, str]] = {   # lesson -> (what it showed, choose otherwise when, its style)
    "00": ("every component starts on loopback, answers, dies with the kernel, comes back",
           "-", "the lab"),
    "01": ("the same order as method calls and over the network: at least 100x slower, six calls in a row, "
           "and a stopped service breaks it", "the parts change together, chat in loops, or share a transaction",
           "method call vs network call"),
    "02": ("loss, latency, bandwidth, sniffing, moving services, mismatched timeouts, cost and contracts, "
           "each measured through a fault proxy", "never: the network is always there", "the eight fallacies"),
    "03": ("blocking vs synchronous; a hand-off survives a receiver that is down; N synchronous calls are "
           "available p^N; timeouts, retries with jitter, budgets, breakers, bulkheads",
           "the caller needs the answer now, or would wait for the result anyway", "sync vs async"),
    "04": ("verbs, status codes, idempotency keys, under- and over-fetching counted in requests and bytes",
           "hot internal calls (gRPC), screens needing many resources (BFF, GraphQL)", "REST"),
    "05": ("a compiled contract, four call patterns, deadlines, one HTTP/2 connection for many calls, "
           "faster and smaller than REST here", "browsers and partners, small teams, curl-first debugging", "gRPC"),
    "06": ("one request for a screen, exactly its fields; N+1 counted and removed by a DataLoader; "
           "HTTP 200 with errors", "simple CRUD, cache-heavy reads, service-to-service calls", "GraphQL federation"),
    "07": ("a registry with leases; a dead instance listed until its TTL; client- vs server-side discovery; "
           "DNS's stale window", "Kubernetes already does it; a few fixed hosts", "service discovery"),
    "08": ("REST outside, gRPC inside; tokens checked once; per-client limits; a BFF turning three phone "
           "round trips into one; the gateway as a single point of failure",
           "between your own services; as the home of business logic", "API gateway"),
    "09": ("one message to one consumer; acks and redelivery; durable + persistent + confirms: nothing lost "
           "across a restart; dead letters; FIFO", "the caller needs the answer; several services need "
           "the message; replay", "message queue"),
    "10": ("one event to every subscriber; Redis pub/sub loses what nobody heard; a queue per service keeps it",
           "exactly-once work, history, an answer", "event broker"),
    "11": ("records kept after reading; keys, partitions, groups and offsets; replay rebuilds state; "
           "duplicates after a crash, removed by an idempotent consumer",
           "plain fan-out or work queues; no one to run a cluster", "a log (Kafka)"),
    "12": ("the same saga choreographed and orchestrated, compensations, the outbox closing the dual-write gap, "
           "an orchestrator surviving its crash", "a single service and a single database",
           "choreography vs orchestration"),
    "13": ("your design, run under faults: what sits on the synchronous path decides what fails",
           "-", "choosing"),
}


def course_recap(evidence: Evidence | None = None):
    """Every lesson in one table: what it showed, when to choose otherwise, and what you proved there."""
    import pandas as pd
    latest = Evidence(evidence or []).latest()
    rows = []
    for number, (showed, otherwise, style) in COURSE.items():
        mine = [e for e in latest if e.lesson == number]
        proved = f"{len(mine)} claims, last run {max(e.when for e in mine)[:10]}" if mine else "not run yet"
        rows.append({"lesson": f"{number} · {LESSONS[number][1]}", "style": style, "what it showed": showed,
                     "choose something else when": otherwise, "your evidence": proved})
    return pd.DataFrame(rows).set_index("lesson")


MESSAGING = {  # lessons 09-11's comparison, every column filled in
    "one message reaches": ("one consumer of the queue", "every subscriber listening at that moment",
                            "every bound queue: one copy per service", "every consumer group; one member in each"),
    "a subscriber that is offline": ("its messages wait in the queue", "misses them, silently",
                                     "its own queue keeps them until it is back",
                                     "resumes from its group's committed offset"),
    "a subscriber that arrives later": ("gets only what is still queued", "gets nothing earlier",
                                        "gets what arrives after its queue is bound",
                                        "can read from offset 0 or from a point in time"),
    "after delivery": ("deleted on ack", "nothing was ever stored", "deleted on ack, per queue",
                       "kept until retention (the lab's broker never deletes)"),
    "order": ("FIFO per queue (lost with competing consumers)", "as published, per connection",
              "FIFO per queue", "per partition, so per key"),
    "a consumer that crashes mid-message": ("redelivered to another consumer", "the message is gone",
                                            "redelivered from that service's queue",
                                            "re-read from the last committed offset"),
    "sharing work": ("any number of competing consumers", "none: each subscriber gets all",
                     "competing consumers on each service's queue", "at most one member per partition"),
    "duplicates": ("yes, after a redelivery: make consumers idempotent", "no redelivery, so no duplicates",
                   "yes, as with a queue", "yes, after a crash before the commit: idempotent consumers"),
}
MESSAGING_COLUMNS = ("message queue (09)", "event broker: Redis pub/sub (10)",
                     "event broker: a queue per service (10)", "log: Kafka (11)")


def messaging_table(evidence: Evidence | None = None):
    """Lessons 09-11's comparison completed, with a row of your own figures from each lesson."""
    import pandas as pd
    table = {column: {aspect: cells[i] for aspect, cells in MESSAGING.items()}
             for i, column in enumerate(MESSAGING_COLUMNS)}
    latest = Evidence(evidence or []).latest()
    for column, (number, words) in zip(MESSAGING_COLUMNS, (("09", ("lost across", "restart")),
                                                           ("10", ("lost every event", "while settlement")),
                                                           ("10", ("kept all", "every one of them")),
                                                           ("11", ("replay", "rebuilt")))):
        found = [e for e in latest if e.lesson == number and any(w in e.claim for w in words)]
        table[column]["your run"] = (f"✔ {found[-1].claim} ({found[-1].figure()})" if found
                                     else f"run lesson {number} to see your figure here")
    return pd.DataFrame(table)
